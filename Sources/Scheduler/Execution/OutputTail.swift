import SchedulerAPI

/// The last `limit` bytes of a run's output, and which stream each came from: a fixed ring
/// buffer, so a job that prints gigabytes costs `limit` bytes of memory, and a queue of
/// (stream, length) stretches that cover exactly the kept bytes.
public struct OutputTail: Sendable {
    public let limit: Int
    private var storage: [UInt8]
    /// Where the next byte goes once the buffer is full.
    private var head = 0
    /// Every byte ever appended.
    public private(set) var totalBytes: Int64 = 0
    /// Stretches of the kept bytes, oldest first: `runs[runsHead...]`. Consecutive bytes of
    /// one stream share a stretch, so a run that prints only stdout has one.
    private var runs: [(stream: StandardStream, count: Int)] = []
    private var runsHead = 0
    /// The sum of the stretches' counts (kept equal to `keptCount`).
    private var runsTotal = 0

    public init(limit: Int) {
        self.limit = max(0, limit)
        // Grown as output comes: most runs print little or nothing, and reserving the limit
        // up front cost every run a 64 KiB allocation.
        storage = []
    }

    /// Whether earlier output was dropped.
    public var truncated: Bool { totalBytes > Int64(limit) }

    /// How many bytes are kept.
    public var keptCount: Int { Int(min(totalBytes, Int64(limit))) }

    public mutating func append(_ bytes: UnsafeRawBufferPointer, stream: StandardStream = .stdout) {
        totalBytes += Int64(bytes.count)
        guard limit > 0, !bytes.isEmpty else { return }
        noteStretch(stream, count: min(bytes.count, limit))
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

    public mutating func append(_ bytes: [UInt8], stream: StandardStream = .stdout) {
        bytes.withUnsafeBytes { append($0, stream: stream) }
    }

    /// Adds `count` new bytes of `stream` to the stretches and drops what fell out of the tail.
    private mutating func noteStretch(_ stream: StandardStream, count: Int) {
        if runsHead < runs.count, runs[runs.count - 1].stream == stream {
            runs[runs.count - 1].count += count
        } else {
            runs.append((stream, count))
        }
        runsTotal += count
        var excess = runsTotal - keptCount
        runsTotal -= max(0, excess)
        while excess > 0 {
            let first = runs[runsHead].count
            if first <= excess {
                excess -= first
                runsHead += 1
            } else {
                runs[runsHead].count -= excess
                excess = 0
            }
        }
        if runsHead >= 64 && runsHead * 2 >= runs.count {
            runs.removeFirst(runsHead)
            runsHead = 0
        }
    }

    /// The kept bytes, oldest first.
    public var bytes: [UInt8] {
        storage.count < limit || head == 0 ? storage : Array(storage[head...] + storage[..<head])
    }

    /// The kept bytes as text; invalid UTF-8 (including a character cut at the start) is replaced.
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// The kept bytes cut where the stream changes, oldest first.
    public var parts: [(stream: StandardStream, bytes: ArraySlice<UInt8>)] {
        let all = bytes
        var start = 0
        return runs[runsHead...].map { stretch in
            let end = min(all.count, start + stretch.count)
            defer { start = end }
            return (stretch.stream, all[start..<end])
        }
    }

    /// The kept output as text, with the segments that say which stream each part of the
    /// text came from (nil when it all came from stdout). Each part is decoded on its own, so
    /// that the segments' lengths are those of the text's UTF-8.
    public var textWithStreams: (text: String, streams: [OutputSegment]?) {
        guard runs[runsHead...].contains(where: { $0.stream != .stdout }) else { return (text, nil) }
        var text = ""
        var segments: [OutputSegment] = []
        for part in parts {
            let piece = String(decoding: part.bytes, as: UTF8.self)
            text += piece
            segments.append(OutputSegment(stream: part.stream, bytes: piece.utf8.count))
        }
        return (text, segments)
    }
}
