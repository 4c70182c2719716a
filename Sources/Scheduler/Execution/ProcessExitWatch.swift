import Dispatch
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Tells when a child process has exited, as it happens, without a timer: the process's pidfd
/// becomes readable then (Linux 5.3+), and a Dispatch read source watches it (epoll). The
/// process is not reaped: swift-subprocess does that. A timer per running process would cost
/// an idle daemon with many services a steady share of a core (docs/performance.md).
final class ProcessExitWatch: @unchecked Sendable {
    // @unchecked: the only stored values are a Dispatch source, which wraps a kernel handle and
    // is safe to use from any thread (its handlers run on its own queue), and a Mutex.
    private let source: any DispatchSourceRead
    private let state = Mutex(State.waiting(nil))

    private enum State {
        case waiting(CheckedContinuation<Bool, Never>?)
        case done(exited: Bool)
    }

    private static let queue = DispatchQueue(label: "schedd.process-exit")

    /// Watches the process of `pidfd` (the caller's, which it may close whenever it likes);
    /// nil when there is none (`-1`: the kernel has no pidfd) or it cannot be duplicated.
    init?(pidfd: Int32) {
        guard pidfd >= 0 else { return nil }
        // The source watches a duplicate that only its cancel handler closes, as Dispatch
        // requires: it unregisters a cancelled source later, on its own queue, and a
        // descriptor closed before that (swift-subprocess closes the pidfd as soon as the run
        // returns) could meanwhile be reused by the next run's pidfd, whose watch would then
        // share a registration the kernel dropped with the old descriptor.
        let watched = fcntl(pidfd, F_DUPFD_CLOEXEC, 0)
        guard watched >= 0 else { return nil }
        source = DispatchSource.makeReadSource(fileDescriptor: watched, queue: Self.queue)
        source.setEventHandler { [weak self] in self?.finish(exited: true) }
        source.setCancelHandler { close(watched) }
        source.activate()
    }

    deinit { source.cancel() }

    /// Returns true once the process has exited, or false once `stop()` was called. Task
    /// cancellation does not end it: a stopped run is still watched until its process is gone.
    func exited() async -> Bool {
        await withCheckedContinuation { continuation in
            let done = state.withLock { state -> Bool? in
                switch state {
                case let .done(exited): return exited
                case .waiting:
                    state = .waiting(continuation)
                    return nil
                }
            }
            if let done { continuation.resume(returning: done) }
        }
    }

    /// Ends the watch (the caller no longer needs to know).
    func stop() { finish(exited: false) }

    private func finish(exited: Bool) {
        let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>?? in
            guard case let .waiting(waiter) = state else { return nil }
            state = .done(exited: exited)
            return waiter
        }
        guard let waiter else { return }
        // Level-triggered: an exited process stays readable, so one event is all it may give.
        source.cancel()
        waiter?.resume(returning: exited)
    }
}
