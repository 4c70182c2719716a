import Foundation
import Logging
import SchedulerAPI

extension JobScheduler {
    /// How an attempt ended.
    enum AttemptEnd: Sendable {
        case finished(ExecutionOutcome)
        /// Stopped at its timeout; what the execution had when it was stopped, if anything.
        case timedOut(ExecutionOutcome?)
        /// Stopped from outside, with the reason and the status it is recorded as.
        case cancelled(String, RunStatus, ExecutionOutcome?)

        mutating func attach(_ partial: ExecutionOutcome) {
            switch self {
            case .finished: break
            case .timedOut: self = .timedOut(partial)
            case let .cancelled(reason, status, _): self = .cancelled(reason, status, partial)
            }
        }

        func outcome(at now: Date, timeout: Duration?) -> RunOutcome {
            switch self {
            case let .finished(result):
                var outcome = RunOutcome(status: result.succeeded ? .succeeded : .failed, finishedAt: now,
                                         output: result.output, outputTruncated: result.outputTruncated, outputStreams: result.outputStreams)
                outcome.outputBytes = result.outputBytes
                switch result.ending {
                case let .exited(code):
                    outcome.exitCode = code
                    if code != 0 { outcome.error = "exited with status \(code)" }
                case let .signaled(signal):
                    outcome.signal = signal
                    outcome.error = "killed by signal \(signal)"
                case .returned:
                    break
                case let .failed(message):
                    outcome.error = message
                }
                return outcome
            case let .timedOut(partial):
                let limit = timeout.map { DurationText.format(milliseconds: $0.milliseconds) } ?? "?"
                return Self.stopped(.timedOut, "timed out after \(limit)", partial, at: now)
            case let .cancelled(reason, status, partial):
                return Self.stopped(status, reason, partial, at: now)
            }
        }

        static func stopped(_ status: RunStatus, _ error: String, _ partial: ExecutionOutcome?, at now: Date) -> RunOutcome {
            var outcome = RunOutcome(status: status, finishedAt: now, output: partial?.output,
                                     outputTruncated: partial?.outputTruncated ?? false, outputStreams: partial?.outputStreams, error: error)
            outcome.outputBytes = partial?.outputBytes
            switch partial?.ending {
            case let .exited(code)?: outcome.exitCode = code
            case let .signaled(signal)?: outcome.signal = signal
            default: break
            }
            return outcome
        }
    }

    /// Races the execution against its timeout and its cancel handle. When one of those comes
    /// first, a process run is asked to stop (SIGTERM, `kill_grace`, SIGKILL) and read to its
    /// end; any other execution is cancelled. The output it had is kept either way.
    ///
    /// The execution is the group's only child; this task waits on `control` for the first of
    /// its end, the timeout and a cancel (a second task waiting for the stop cost a task, and
    /// its cancel a wake-up, on every run).
    static func attempt(executor: any JobExecutor, request: ExecutionRequest, timeout: Duration?,
                        clock: any SchedulerClock, timeouts: RunTimeouts, control: RunControl) async -> AttemptEnd {
        let stopsItself = executor is any StopsOnRequest
        let timeoutToken = timeout.map { timeouts.add(clock.now().addingTimeInterval(Double($0.milliseconds) / 1000), control) }
        defer { timeoutToken.map(timeouts.remove) }
        return await withTaskGroup(of: ExecutionOutcome?.self) { group in
            group.addTask {
                defer { control.executionEnded() }
                do {
                    return try await executor.execute(request)
                } catch {
                    // Stopped by the timeout or a cancel: they say how it ended. Any other
                    // error ends the run now, as failed; waiting for a timeout or a cancel
                    // that may never come would hang it for ever.
                    if Task.isCancelled { return nil }
                    return ExecutionOutcome(ending: .failed("the executor failed: \(error)"))
                }
            }
            var stopped: AttemptEnd?
            switch await control.waitForStop() {
            case .timedOut: stopped = .timedOut(nil)
            case let .cancelled(reason): stopped = .cancelled(reason, control.status, nil)
            case nil: break
            }
            if stopped != nil {
                if stopsItself {
                    request.stop.cancel("stopped")
                } else {
                    group.cancelAll()
                }
            }
            // The execution's end; nil if this task was cancelled (shutdown's end) first.
            let result = await group.next() ?? nil
            guard var end = stopped else {
                if let result { return .finished(result) }
                return .cancelled(control.reason ?? "cancelled", control.status, nil)
            }
            // Stopped: keep what it captured before it ended.
            if let result { end.attach(result) }
            return end
        }
    }
}
