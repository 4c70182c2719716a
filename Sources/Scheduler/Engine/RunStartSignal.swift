import SchedulerAPI
import Synchronization

/// Lets a trigger wait until its run has started (its row exists), for `schedctl run`: the
/// caller gets the run id to follow, or why the run never started.
final class RunStartSignal: Sendable {
    enum Outcome: Sendable, Equatable {
        case started(RunRecord)
        /// Dropped before it started; the reason completes "the run was not started: …".
        case dropped(String)
        /// Not started, and recorded `skipped` (as `decide` records a run it skips).
        case skipped(RunRecord)
    }

    private let state = Mutex<(outcome: Outcome?, waiter: CheckedContinuation<Outcome, Never>?)>((nil, nil))

    func resolve(_ record: RunRecord) { settle(.started(record)) }

    func drop(_ reason: String) { settle(.dropped(reason)) }

    func skipped(_ record: RunRecord) { settle(.skipped(record)) }

    private func settle(_ outcome: Outcome) {
        let waiter = state.withLock { state -> CheckedContinuation<Outcome, Never>? in
            guard state.outcome == nil else { return nil }
            state.outcome = outcome
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: outcome)
    }

    /// How the run started or why not; `.dropped` too when the waiting task is cancelled (the
    /// run itself may still start later).
    func wait() async -> Outcome {
        let cancelled = Outcome.dropped("the request was cancelled before the run started")
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> Outcome? in
                    if let outcome = state.outcome { return outcome }
                    if Task.isCancelled { return cancelled }
                    state.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            state.withLock { state -> CheckedContinuation<Outcome, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }?.resume(returning: cancelled)
        }
    }
}
