import SchedulerAPI
import Synchronization

/// The handle by which a run is cancelled from outside (`schedctl cancel`, `replace`, shutdown).
final class RunControl: Sendable {
    /// Why a run is to stop.
    enum Stop: Sendable, Equatable {
        /// Its timeout came (`RunTimeouts`).
        case timedOut
        /// Cancelled, with the reason.
        case cancelled(String)
    }

    private struct State {
        var reason: String?
        var timedOut = false
        var status: RunStatus = .cancelled
        var by: String?
        var atShutdown = false
        var waiter: CheckedContinuation<Stop?, Never>?
        /// The execution it stops has ended: a wait for a stop is over.
        var ended = false

        var stop: Stop? {
            if timedOut { return .timedOut }
            return reason.map(Stop.cancelled)
        }
    }

    private let state = Mutex(State())

    /// Asks the run to stop; the first reason wins. `status` is what the run is recorded as:
    /// `cancelled`, or `failed` for a service that never became ready (a failed start, which
    /// its restart rule answers).
    /// `by` is who asked for it over the control socket (`runs.cancelled_by`). Whichever of
    /// this and `timeOut()` comes first is how the run stops. `atShutdown`: schedd stops it
    /// because it is shutting down, not because anyone asked (its job's retries apply).
    func cancel(_ reason: String, status: RunStatus = .cancelled, by caller: String? = nil, atShutdown: Bool = false) {
        let waiter = state.withLock { state -> CheckedContinuation<Stop?, Never>? in
            guard state.stop == nil else { return nil }
            state.reason = reason
            state.status = status
            state.by = caller
            state.atShutdown = atShutdown
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: .cancelled(reason))
    }

    /// Asks the run to stop because its timeout came, unless it was cancelled first.
    func timeOut() {
        let waiter = state.withLock { state -> CheckedContinuation<Stop?, Never>? in
            guard state.stop == nil else { return nil }
            state.timedOut = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: .timedOut)
    }

    /// Whether a task waits for a stop (tests' barrier).
    var isWaited: Bool { state.withLock { $0.waiter != nil } }

    var reason: String? { state.withLock { $0.reason } }
    /// Why the run is to stop, if it is.
    var stopRequest: Stop? { state.withLock { $0.stop } }
    var status: RunStatus { state.withLock { $0.status } }
    var by: String? { state.withLock { $0.by } }
    /// Whether a shutdown stopped the run (`cancel(atShutdown:)`), rather than a caller.
    var stoppedAtShutdown: Bool { state.withLock { $0.stop != nil && $0.atShutdown } }

    /// Says that the execution this control stops has ended: `waitForStop` returns nil, unless
    /// a stop came first. Lets the attempt wait for the first of its end and a stop without a
    /// second task.
    func executionEnded() {
        let waiter = state.withLock { state -> CheckedContinuation<Stop?, Never>? in
            state.ended = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// Returns why the run is to stop once it is, or nil once the execution has ended
    /// (`executionEnded`) or when the waiting task is cancelled.
    func waitForStop() async -> Stop? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Stop?, Never>) in
                let now = state.withLock { state -> (Bool, Stop?) in
                    if let stop = state.stop { return (true, stop) }
                    if state.ended || Task.isCancelled { return (true, nil) }
                    state.waiter = continuation
                    return (false, nil)
                }
                if now.0 { continuation.resume(returning: now.1) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Stop?, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }
    }
}
