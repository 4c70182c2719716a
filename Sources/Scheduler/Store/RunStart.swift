import Foundation
import SchedulerAPI

/// A run about to start, as the engine asks its store to record it.
package struct RunStart: Sendable {
    package var job: String
    package var trigger: RunTrigger
    package var attempt: Int
    package var scheduledAt: Date?
    package var startedAt: Date
    /// The fire this run came from: the store makes it durable no later than the start row.
    package var fire: StoreWrite?
    /// Who started a manual run over the control socket.
    package var triggeredBy: String?
    /// A dependency run's trigger: the run whose end triggered it.
    package var triggeredByRun: Int64?
    /// A retry: the failed attempt it follows, whose mark its row makes void.
    package var retryOf: Int64?
    /// A service's run: one node at a time may hold it (a store shared by several nodes
    /// refuses the start while another node runs the job).
    package var exclusive: Bool
    /// A start that must not overlap a run of its job (a retry, or a missed time of
    /// `catch_up: all`, under `forbid` or `replace`; under `forbid`, a run by hand without
    /// `--force`, a trigger, a slot that does not come from the queue): a store shared by several nodes refuses it while a run of the job is
    /// running or queued on any node (`jobBusyElsewhere`), as the engine holds or skips it
    /// while one goes on here.
    package var waitsForJob = false

    package init(job: String, trigger: RunTrigger, attempt: Int = 1, scheduledAt: Date?, startedAt: Date, fire: StoreWrite? = nil,
                 triggeredBy: String? = nil, exclusive: Bool = false) {
        self.exclusive = exclusive
        self.triggeredBy = triggeredBy
        self.job = job
        self.trigger = trigger
        self.attempt = attempt
        self.scheduledAt = scheduledAt
        self.startedAt = startedAt
        self.fire = fire
    }

    /// The run's record as it starts.
    package func record(id: Int64) -> RunRecord {
        var record = RunRecord(id: id, job: job, trigger: trigger, attempt: attempt, status: .running, scheduledAt: scheduledAt, startedAt: startedAt)
        record.triggeredBy = triggeredBy
        record.triggeredByRun = triggeredByRun
        record.retryOf = retryOf
        return record
    }

    /// What the store did with a start.
    package enum Outcome: Sendable, Equatable {
        case started(RunRecord)
        /// Not recorded, and the run must not start: another node holds it (the reason says).
        case refused(String)
        /// Not recorded: the run is of a service, and `node` runs that service. It may be
        /// asked for again once that node is no longer up.
        case heldElsewhere(node: String)
        /// Not recorded: a start that waits for its job (`waitsForJob`) while run `runID` of
        /// the job is running, or queued, on `node` (nil: queued for any node). It may be asked
        /// for again later.
        case jobBusyElsewhere(runID: Int64, node: String?)
    }
}
