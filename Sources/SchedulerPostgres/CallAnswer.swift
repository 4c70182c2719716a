import Scheduler
import Synchronization

/// The answer of a database call that runs in a task of its own (`PostgresStore.call`), and a
/// wait for it that ends by a deadline or the waiter's cancellation, whether the answer comes
/// or not. Resolved once; later answers and give-ups are ignored.
final class CallAnswer<T: Sendable>: Sendable {
    private struct State {
        var answer: Result<T, any Error>?
        var waiter: CheckedContinuation<Result<T, any Error>?, Never>?
        var gaveUp = false
    }

    private let state = Mutex(State())

    /// The call's work has ended with `answer`.
    func resolve(_ answer: Result<T, any Error>) {
        let waiter = state.withLock { state -> CheckedContinuation<Result<T, any Error>?, Never>? in
            guard state.answer == nil, !state.gaveUp else { return nil }
            state.answer = answer
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: answer)
    }

    /// The waiter stops waiting: its deadline passed or it was cancelled.
    private func giveUp() {
        let waiter = state.withLock { state -> CheckedContinuation<Result<T, any Error>?, Never>? in
            guard state.answer == nil else { return nil }
            state.gaveUp = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// The answer, or nil if it has not come within `timeout` or the calling task is cancelled.
    ///
    /// The deadline is an entry of the process's `MonotonicTimers`, cancelled when the answer
    /// comes: a sleep raced against the answer cost every call a task group and a timer task,
    /// and kept the cancelled sleep's memory until its deadline.
    func value(within timeout: Duration) async -> Result<T, any Error>? {
        let deadline = MonotonicTimers.shared.schedule(after: timeout) { [self] in giveUp() }
        defer { MonotonicTimers.shared.cancel(deadline) }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, any Error>?, Never>) in
                let ready = state.withLock { state -> Result<T, any Error>?? in
                    if let answer = state.answer { return .some(answer) }
                    if state.gaveUp { return .some(nil) }
                    state.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            giveUp()
        }
    }
}
