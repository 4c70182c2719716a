import Synchronization

/// A thread-safe output tail: what a handler prints, or what a process wrote before it was stopped.
final class OutputSink: Sendable {
    private let tail: Mutex<OutputTail>

    init(limit: Int) { tail = Mutex(OutputTail(limit: limit)) }

    func append(_ bytes: [UInt8]) { tail.withLock { $0.append(bytes) } }

    func append(_ bytes: UnsafeRawBufferPointer) { tail.withLock { $0.append(bytes) } }

    var snapshot: OutputTail { tail.withLock { $0 } }
}
