import SchedulerAPI
import Synchronization

/// Lets a trigger wait until its run has started (its row exists), for `schedctl run`: the
/// caller gets the run id to follow. Resolved with nil when the run is dropped unstarted.
final class RunStartSignal: Sendable {
    private let state = Mutex<(done: Bool, record: RunRecord?, waiter: CheckedContinuation<RunRecord?, Never>?)>((false, nil, nil))

    func resolve(_ record: RunRecord?) {
        let waiter = state.withLock { state -> CheckedContinuation<RunRecord?, Never>? in
            guard !state.done else { return nil }
            state.done = true
            state.record = record
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: record)
    }

    /// The started run, or nil when it was dropped, or when the waiting task is cancelled (the
    /// run itself may still start later).
    func wait() async -> RunRecord? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> (Bool, RunRecord?) in
                    if state.done { return (true, state.record) }
                    if Task.isCancelled { return (true, nil) }
                    state.waiter = continuation
                    return (false, nil)
                }
                if ready.0 { continuation.resume(returning: ready.1) }
            }
        } onCancel: {
            state.withLock { state -> CheckedContinuation<RunRecord?, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }?.resume(returning: nil)
        }
    }
}
