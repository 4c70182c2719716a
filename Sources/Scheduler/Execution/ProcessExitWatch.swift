#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Tells when a child process has exited, as it happens, without a timer: the process's pidfd
/// becomes readable then (Linux 5.3+), and the `DescriptorLoop` watches it (epoll). The process
/// is not reaped: swift-subprocess does that. A timer per running process would cost an idle
/// daemon with many services a steady share of a core (docs/performance.md).
final class ProcessExitWatch: Sendable {
    private let loop: DescriptorLoop
    private let state = Mutex(State.waiting(nil))
    private let token = Mutex<DescriptorLoop.Token?>(nil)

    private enum State {
        case waiting(CheckedContinuation<Bool, Never>?)
        case done(exited: Bool)
    }

    /// Watches the process of `pidfd` (the caller's, which it may close whenever it likes);
    /// nil when there is none (`-1`: the kernel has no pidfd) or it cannot be watched.
    init?(pidfd: Int32, loop: DescriptorLoop = .shared) {
        guard pidfd >= 0 else { return nil }
        self.loop = loop
        // The loop watches a duplicate, which it closes itself once the watch is over:
        // swift-subprocess closes the pidfd as soon as the run returns.
        let watched = fcntl(pidfd, F_DUPFD_CLOEXEC, 0)
        guard watched >= 0 else { return nil }
        let registered = token.withLock { token -> Bool in
            // Level-triggered: an exited process stays readable, so one call is all it needs.
            token = loop.watch(watched) { [weak self] _ in
                self?.finish(exited: true)
                return false
            }
            return token != nil
        }
        guard registered else {
            close(watched)
            return nil
        }
    }

    deinit {
        // Nobody waits any more (a waiter holds the watch): the registration alone is left.
        guard let token = token.withLock({ $0.take() }) else { return }
        loop.perform { turn in turn.remove(token) }
    }

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
    func stop() {
        guard let token = token.withLock({ $0.take() }) else { return }
        loop.perform { [self] turn in
            turn.remove(token)
            finish(exited: false)
        }
    }

    private func finish(exited: Bool) {
        let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>?? in
            guard case let .waiting(waiter) = state else { return nil }
            state = .done(exited: exited)
            return waiter
        }
        guard let waiter else { return }
        waiter?.resume(returning: exited)
    }
}
