import Dispatch
#if canImport(Glibc)
import Glibc
#endif
import SchedulerAPI
import Synchronization
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// A process run's stdout and stderr pipes, read into its sink as data comes, by Dispatch read
/// sources on a serial queue of the run's own (so the two streams' chunks are appended in the
/// order they are read).
///
/// Not swift-subprocess's `.sequence` outputs: each pending read of those holds a zero-filled
/// buffer of the pipe's size (64 KiB here) for as long as it waits, 128 KiB of resident memory
/// for every running process (a service waits all its life), and each stream needs a task.
/// Here a quiet pipe costs a Dispatch source; a read borrows a buffer only while it reads.
final class RunOutputPipes: @unchecked Sendable {
    // @unchecked: the stored values are Dispatch sources and a queue (kernel handles, usable
    // from any thread; the sources' handlers run on `queue`), descriptors set once in `init`,
    // and Mutexes. The read ends are only read on `queue` and closed by the sources' cancel
    // handlers, which Dispatch runs after the last event handler.
    private let queue = DispatchQueue(label: "schedd.run-output")
    private let sink: OutputSink
    private let readEnds: [Int32]
    private let streams: [StandardStream] = [.stdout, .stderr]
    /// Set once, in `init` (its handlers need `self`, so it cannot be a `let`).
    private var sources: [any DispatchSourceRead] = []
    /// The ends the child writes to: given to swift-subprocess, closed here once it has
    /// spawned (the pipes reach their end only when no one else holds them).
    private let writeEnds: Mutex<[Int32]>
    private let state = Mutex(State())

    private struct State {
        var ended = [false, false]
        var waiter: CheckedContinuation<Void, Never>?
        var allEnded: Bool { !ended.contains(false) }
    }

    /// How much one read takes: a pipe's default capacity.
    private static let readSize = 65536
    /// How much is read after `stop()`: what was already in the pipes, not what a process that
    /// goes on writing writes meanwhile.
    private static let finalReadLimit = 1 << 20

    /// Opens both pipes (close-on-exec) and starts reading them; throws the `errno` of a
    /// failed `pipe`.
    init(sink: OutputSink) throws(Errno) {
        self.sink = sink
        var reads: [Int32] = []
        var writes: [Int32] = []
        for _ in 0..<2 {
            var ends: [Int32] = [-1, -1]
            // Glibc's module has no `pipe2`. The moment before close-on-exec is set does not
            // leak the pipe into another run's process: swift-subprocess, schedd's only spawner,
            // closes every descriptor above stderr in the child (`closefrom`).
            guard pipe(&ends) == 0 else {
                let error = Errno(rawValue: errno)
                for fd in reads + writes { close(fd) }
                throw error
            }
            for fd in ends { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            // Only the read end is non-blocking: the write end is a file description of its
            // own, which the child gets as a normal, blocking stdout.
            _ = fcntl(ends[0], F_SETFL, fcntl(ends[0], F_GETFL) | O_NONBLOCK)
            reads.append(ends[0])
            writes.append(ends[1])
        }
        readEnds = reads
        writeEnds = Mutex(writes)
        for (index, fd) in reads.enumerated() {
            let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
            source.setEventHandler { [weak self] in self?.read(index, limit: .max) }
            source.setCancelHandler { close(fd) }
            sources.append(source)
        }
        for source in sources { source.activate() }
    }

    deinit {
        closeWriteEnds()
        for source in sources { source.cancel() }
    }

    /// The write end of stdout (0) or stderr (1), for swift-subprocess to give the child.
    func writeEnd(_ index: Int) -> Int32 { writeEnds.withLock { $0[index] } }

    /// Closes this process's copies of the write ends (idempotent): once the child has them.
    func closeWriteEnds() {
        let ends = writeEnds.withLock { ends -> [Int32] in
            defer { ends = [-1, -1] }
            return ends
        }
        for fd in ends where fd >= 0 { close(fd) }
    }

    /// Whether both pipes have reached their end (or `stop()` ended the reading).
    var atEnd: Bool { state.withLock { $0.allEnded } }

    /// Returns once both pipes have reached their end, or `stop()` has read what was left.
    /// Cancelling the calling task stops the reading.
    func ended() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let done = state.withLock { state -> Bool in
                    if state.allEnded { return true }
                    state.waiter = continuation
                    return false
                }
                if done { continuation.resume() }
            }
        } onCancel: {
            stop()
        }
    }

    /// Reads what the pipes hold now and ends the reading, whoever still holds a write end (a
    /// process that escaped the run's sweep, say).
    func stop() {
        queue.async { [self] in
            for index in readEnds.indices { read(index, limit: Self.finalReadLimit) }
            for index in readEnds.indices { end(index) }
        }
    }

    /// Reads pipe `index` until it is empty (or `limit` bytes), on `queue`.
    private func read(_ index: Int, limit: Int) {
        if state.withLock({ $0.ended[index] }) { return }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.readSize, alignment: 16)
        defer { buffer.deallocate() }
        var total = 0
        while total < limit {
            let count = Glibc.read(readEnds[index], buffer.baseAddress, buffer.count)
            if count > 0 {
                sink.append(UnsafeRawBufferPointer(rebasing: buffer[..<count]), stream: streams[index])
                total += count
            } else if count < 0 && errno == EINTR {
                continue
            } else if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                return
            } else {
                // The end (0), or an error that no later read would get past.
                end(index)
                return
            }
        }
    }

    /// Ends the reading of pipe `index`, on `queue`: its source is cancelled (which closes the
    /// read end) and, once both are ended, the waiter goes on.
    private func end(_ index: Int) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>?? in
            guard !state.ended[index] else { return nil }
            state.ended[index] = true
            guard state.allEnded else { return .some(nil) }
            defer { state.waiter = nil }
            return .some(state.waiter)
        }
        guard let waiter else { return }
        sources[index].cancel()
        waiter?.resume()
    }
}
