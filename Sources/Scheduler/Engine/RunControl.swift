import SchedulerAPI
import Synchronization

/// The handle by which a run is cancelled from outside (`schedctl cancel`, `replace`, shutdown).
final class RunControl: Sendable {
    private struct State {
        var reason: String?
        var status: RunStatus = .cancelled
        var by: String?
        var waiter: CheckedContinuation<String?, Never>?
    }

    private let state = Mutex(State())

    /// Asks the run to stop; the first reason wins. `status` is what the run is recorded as:
    /// `cancelled`, or `failed` for a service that never became ready (a failed start, which
    /// its restart rule answers).
    /// `by` is who asked for it over the control socket (`runs.cancelled_by`).
    func cancel(_ reason: String, status: RunStatus = .cancelled, by caller: String? = nil) {
        let waiter = state.withLock { state -> CheckedContinuation<String?, Never>? in
            guard state.reason == nil else { return nil }
            state.reason = reason
            state.status = status
            state.by = caller
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: reason)
    }

    var reason: String? { state.withLock { $0.reason } }
    var status: RunStatus { state.withLock { $0.status } }
    var by: String? { state.withLock { $0.by } }

    /// Returns the reason once the run is cancelled, or nil when the waiting task is cancelled.
    func waitForCancel() async -> String? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<String?, Never>) in
                let now = state.withLock { state -> (Bool, String?) in
                    if let reason = state.reason { return (true, reason) }
                    if Task.isCancelled { return (true, nil) }
                    state.waiter = continuation
                    return (false, nil)
                }
                if now.0 { continuation.resume(returning: now.1) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<String?, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }
    }
}
