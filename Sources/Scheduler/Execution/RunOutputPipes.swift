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

/// A process run's stdout and stderr pipes, read into its sink as data comes by the
/// `DescriptorLoop` (one thread for every run; the two streams' chunks are appended in the
/// order they are read).
///
/// Not swift-subprocess's `.sequence` outputs: each pending read of those holds a zero-filled
/// buffer of the pipe's size (64 KiB here) for as long as it waits, 128 KiB of resident memory
/// for every running process (a service waits all its life), and each stream needs a task.
final class RunOutputPipes: Sendable {
    private let sink: OutputSink
    /// Where the read ends are registered: every read, removal and close happens there.
    private let loop: DescriptorLoop
    /// Read on the loop's thread while registered, and closed by the loop.
    private let readEnds: [Int32]
    /// The ends the child writes to: given to swift-subprocess, closed here once it has
    /// spawned (the pipes reach their end only when no one else holds them).
    private let writeEnds: Mutex<[Int32]>
    private let state = Mutex(State())
    private static let streams: [StandardStream] = [.stdout, .stderr]

    private struct State {
        /// Each read end's registration with the loop; nil once its reading has ended.
        var tokens: [DescriptorLoop.Token?] = [nil, nil]
        var waiter: CheckedContinuation<Void, Never>?
        var allEnded: Bool { tokens.allSatisfy { $0 == nil } }
    }

    /// How many reads one readiness gets before the loop serves the others (a pipe that is
    /// written faster than it is read would otherwise keep the loop to itself).
    private static let readsPerTurn = 16
    /// How much is read after `stop()`: what was already in the pipes, not what a process that
    /// goes on writing writes meanwhile.
    private static let finalReads = 16

    /// Opens both pipes (close-on-exec) and starts reading them; throws the `errno` of a
    /// failed `pipe` or of the loop's refusal.
    init(sink: OutputSink, loop: DescriptorLoop = .shared) throws(Errno) {
        self.sink = sink
        self.loop = loop
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
            // Under the state's lock: the loop's first call may come before `watch` returns.
            let registered = state.withLock { state -> Bool in
                guard let token = loop.watch(fd, { [self] turn in read(index, turn, reads: Self.readsPerTurn) }) else { return false }
                state.tokens[index] = token
                return true
            }
            if !registered {
                let error = Errno(rawValue: errno)
                stop()
                closeWriteEnds()
                for fd in reads[index...] { close(fd) }
                throw error
            }
        }
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

    /// Reads what the pipes hold now and ends the reading (idempotent), whoever still holds a
    /// write end (a process that escaped the run's sweep, say).
    func stop() {
        loop.perform { [self] turn in
            for index in Self.streams.indices {
                if read(index, turn, reads: Self.finalReads) { end(index, turn) }
            }
        }
    }

    /// Reads pipe `index` until it is empty (or `reads` reads), on the loop's thread; false
    /// once its reading has ended.
    private func read(_ index: Int, _ turn: borrowing DescriptorLoop.Turn, reads: Int) -> Bool {
        // Its descriptor is open while it is registered: only this thread removes it.
        guard state.withLock({ $0.tokens[index] }) != nil else { return false }
        for _ in 0..<reads {
            let count = Glibc.read(readEnds[index], turn.buffer.baseAddress, turn.buffer.count)
            if count > 0 {
                sink.append(UnsafeRawBufferPointer(rebasing: turn.buffer[..<count]), stream: Self.streams[index])
            } else if count < 0 && errno == EINTR {
                continue
            } else if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                return true
            } else {
                // The end (0), or an error that no later read would get past.
                end(index, turn)
                return false
            }
        }
        return true
    }

    /// Ends the reading of pipe `index`, on the loop's thread: its read end is removed and
    /// closed and, once both have ended, the waiter goes on.
    private func end(_ index: Int, _ turn: borrowing DescriptorLoop.Turn) {
        let (token, waiter) = state.withLock { state -> (DescriptorLoop.Token?, CheckedContinuation<Void, Never>?) in
            let token = state.tokens[index]
            state.tokens[index] = nil
            guard token != nil, state.allEnded else { return (token, nil) }
            defer { state.waiter = nil }
            return (token, state.waiter)
        }
        if let token { turn.remove(token) }
        waiter?.resume()
    }
}
