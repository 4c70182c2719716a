import Synchronization

/// A one-slot signal: `signal()` wakes the current or the next `wait()`. Several signals before
/// a wait count as one.
final class Wakeup: Sendable {
    private enum State {
        case idle
        case pending
        case waiting(CheckedContinuation<Void, Never>)
    }

    private let state = Mutex(State.idle)

    func signal() {
        let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
            switch state {
            case let .waiting(c):
                state = .idle
                return c
            case .idle, .pending:
                state = .pending
                return nil
            }
        }
        continuation?.resume()
    }

    /// Whether a signal came that nobody has taken yet.
    var isPending: Bool {
        state.withLock { state in
            if case .pending = state { return true }
            return false
        }
    }

    /// Takes a signal that came while nobody waited, if there is one: a busy engine, woken
    /// again before it sleeps, goes on without setting up a wait.
    func takePending() -> Bool {
        state.withLock { state in
            guard case .pending = state else { return false }
            state = .idle
            return true
        }
    }

    /// Returns on a signal only, even in a cancelled task: a cancelled engine waits this way
    /// for its runs to end (each run's end signals), instead of spinning.
    func waitIgnoringCancellation() async {
        await suspend(returningIfCancelled: false)
    }

    /// Returns on a signal or when the task is cancelled.
    func wait() async {
        await withTaskCancellationHandler {
            await suspend(returningIfCancelled: true)
        } onCancel: {
            let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
                if case let .waiting(c) = state {
                    state = .idle
                    return c
                }
                return nil
            }
            continuation?.resume()
        }
    }

    private func suspend(returningIfCancelled: Bool) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state -> Bool in
                if case .pending = state {
                    state = .idle
                    return true
                }
                if returningIfCancelled && Task.isCancelled { return true }
                state = .waiting(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }
}
