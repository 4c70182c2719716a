import Dispatch
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Writes the daemon's log lines to stderr from a thread of its own, so that a logging task
/// never blocks in write(2) (journald busy, a pipe nobody reads) holding a thread of the
/// cooperative pool. Lines wait in a buffer bounded by `limit` bytes; past it they are
/// dropped and counted, and the count is written after the lines queued before them.
///
/// A thread rather than a Service: logging works before the services start and after they
/// end.
final class LogWriter: Sendable {
    private struct State {
        var lines: [String] = []
        var bytes = 0
        var dropped = 0
        var flushWaiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0
    }

    private let state = Mutex(State())
    private let pending = DispatchSemaphore(value: 0)
    private let fd: Int32
    let limit: Int
    /// The line that says how many lines were dropped, in the log's format.
    private let droppedLine: @Sendable (Int) -> String

    init(fd: Int32 = 2, limit: Int = 4 << 20, droppedLine: @escaping @Sendable (Int) -> String) {
        self.fd = fd
        self.limit = limit
        self.droppedLine = droppedLine
        let thread = Thread { [self] in loop() }
        thread.name = "schedd-log"
        thread.start()
    }

    /// Queues a line (with its newline); never waits.
    func write(_ line: String) {
        let queued = state.withLock { state -> Bool in
            guard state.bytes + line.utf8.count <= limit else {
                state.dropped += 1
                return false
            }
            state.lines.append(line)
            state.bytes += line.utf8.count
            return true
        }
        if queued { pending.signal() }
    }

    /// Returns once every line queued before it is written, or after `limit` (stderr may be
    /// a pipe nobody reads: a daemon on its way out must not wait for it for ever).
    func flush(limit: Duration = .seconds(2)) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.written() }
            group.addTask { try? await Task.sleep(for: limit) }
            await group.next()
            group.cancelAll()
        }
    }

    /// Waits until the writer has written what was queued before; returns at once when the
    /// waiting task is cancelled.
    private func written() async {
        let id = state.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let cancelled = state.withLock { state -> Bool in
                    if Task.isCancelled { return true }
                    state.flushWaiters[id] = continuation
                    return false
                }
                if cancelled { continuation.resume() } else { pending.signal() }
            }
        } onCancel: {
            state.withLock { $0.flushWaiters.removeValue(forKey: id) }?.resume()
        }
    }

    /// How many flushes are waiting for the writer (for tests).
    var flushesWaiting: Int { state.withLock { $0.flushWaiters.count } }

    private func loop() {
        while true {
            pending.wait()
            // The waiters stay registered while their lines are written: a flush that gives up
            // takes its own back and resumes it, even while this thread is blocked in write(2).
            let (lines, dropped, waiterIDs) = state.withLock { state in
                defer {
                    state.lines = []
                    state.bytes = 0
                    state.dropped = 0
                }
                return (state.lines, state.dropped, Array(state.flushWaiters.keys))
            }
            // The lines were queued before the buffer filled, and the drops came after them.
            if !lines.isEmpty { writeAll(lines.joined()) }
            if dropped > 0 { writeAll(droppedLine(dropped)) }
            let waiters = state.withLock { state in waiterIDs.compactMap { state.flushWaiters.removeValue(forKey: $0) } }
            waiters.forEach { $0.resume() }
        }
    }

    private func writeAll(_ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            offset += n
        }
    }
}
