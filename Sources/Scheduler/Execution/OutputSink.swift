import SchedulerAPI
import Synchronization

/// A run's output as it is produced: the tail that is kept (up to `output_limit`), and a
/// listener that sees every chunk as it arrives (live output for `GET /v1/events`).
///
/// Thread-safe: a process's reader and a handler's `print` append from any task.
public final class OutputSink: Sendable {
    /// Called for each appended chunk with the byte offset of its first byte in the run's
    /// whole output. Runs under the sink's lock, so that listeners see chunks in order: it must
    /// be quick and must not touch the sink.
    public typealias Listener = @Sendable (_ offset: Int64, _ bytes: UnsafeRawBufferPointer, _ stream: StandardStream) -> Void

    private let tail: Mutex<OutputTail>
    private let listener: Listener?

    public init(limit: Int, listener: Listener? = nil) {
        tail = Mutex(OutputTail(limit: limit))
        self.listener = listener
    }

    public func append(_ bytes: [UInt8], stream: StandardStream = .stdout) { bytes.withUnsafeBytes { append($0, stream: stream) } }

    /// Appends a chunk of one stream; chunks of both streams interleave in the order they
    /// are appended.
    public func append(_ bytes: UnsafeRawBufferPointer, stream: StandardStream = .stdout) {
        guard !bytes.isEmpty else { return }
        tail.withLock { tail in
            let offset = tail.totalBytes
            tail.append(bytes, stream: stream)
            listener?(offset, bytes, stream)
        }
    }

    /// The kept tail and the count of every byte so far.
    public var snapshot: OutputTail { tail.withLock { $0 } }
}
