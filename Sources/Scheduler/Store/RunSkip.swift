import Foundation
import SchedulerAPI

/// A trigger that did not start a run, and why: recorded as a `skipped` run.
package struct RunSkip: Sendable, Equatable {
    package var job: String
    package var trigger: RunTrigger
    /// The attempt it would have been: a retry's is 2 or more.
    package var attempt = 1
    /// A retry: the failed run it would have retried, whose mark its row makes void
    /// (`RetryMarkSQL.retryStarted`).
    package var retryOf: Int64?
    package var scheduledAt: Date?
    package var at: Date
    package var reason: String
    /// Who asked for the run over the control socket, for a manual one.
    package var triggeredBy: String?
    /// For a dependency run: the run whose end triggered it.
    package var triggeredByRun: Int64?
    /// A slot of a job pinned to this node, recorded as missed because the node is not up: a
    /// shared store records it only if the node is still not up by its own reckoning (this
    /// node's list of the nodes up may be older than the pinned node's start).
    package var missedNode: String?

    package init(job: String, trigger: RunTrigger, scheduledAt: Date?, at: Date, reason: String) {
        self.job = job
        self.trigger = trigger
        self.scheduledAt = scheduledAt
        self.at = at
        self.reason = reason
    }

    /// The skipped run's record, final at once.
    package func record(id: Int64) -> RunRecord {
        RunRecord(id: id, job: job, trigger: trigger, attempt: attempt, status: .skipped, scheduledAt: scheduledAt,
                  startedAt: at, finishedAt: at, durationMs: 0, error: reason, triggeredBy: triggeredBy, triggeredByRun: triggeredByRun,
                  retryOf: retryOf)
    }
}
