/// The last `limit` bytes of a run's output: a fixed ring buffer, so a job that prints
/// gigabytes costs `limit` bytes of memory.
public struct OutputTail: Sendable {
    public let limit: Int
    private var storage: [UInt8]
    /// Where the next byte goes once the buffer is full.
    private var head = 0
    /// Every byte ever appended.
    public private(set) var totalBytes: Int64 = 0

    public init(limit: Int) {
        self.limit = max(0, limit)
        // Grown as output comes: most runs print little or nothing, and reserving the limit
        // up front cost every run a 64 KiB allocation.
        storage = []
    }

    /// Whether earlier output was dropped.
    public var truncated: Bool { totalBytes > Int64(limit) }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        totalBytes += Int64(bytes.count)
        guard limit > 0 else { return }
        var source = bytes
        if source.count >= limit {
            // Only the end of this chunk survives.
            source = UnsafeRawBufferPointer(rebasing: source[(source.count - limit)...])
            storage = Array(source)
            head = 0
            return
        }
        if storage.count < limit {
            let room = limit - storage.count
            let first = min(room, source.count)
            storage.append(contentsOf: source[..<first])
            source = UnsafeRawBufferPointer(rebasing: source[first...])
            if source.isEmpty { return }
        }
        // Full: overwrite the oldest bytes, wrapping around.
        for byte in source {
            storage[head] = byte
            head = head + 1 == limit ? 0 : head + 1
        }
    }

    public mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// The kept bytes, oldest first.
    public var bytes: [UInt8] {
        storage.count < limit || head == 0 ? storage : Array(storage[head...] + storage[..<head])
    }

    /// The kept bytes as text; invalid UTF-8 (including a character cut at the start) is replaced.
    public var text: String { String(decoding: bytes, as: UTF8.self) }
}
