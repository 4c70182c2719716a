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
    func value(within timeout: Duration) async -> Result<T, any Error>? {
        await withTaskGroup(of: Void.self) { timer in
            timer.addTask {
                // Cancelled once the answer is in: giving up then changes nothing.
                try? await Task.sleep(for: timeout)
                self.giveUp()
            }
            let answer = await withTaskCancellationHandler {
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
            timer.cancelAll()
            return answer
        }
    }
}
