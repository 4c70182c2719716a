import Foundation
import SchedulerAPI

/// A slot for any node of a cluster to run (`SchedulerStore.queueSlots`).
package struct QueuedSlot: Sendable, Equatable {
    package var job: String
    /// `schedule`, or `catch_up` for a missed slot run late.
    package var trigger: RunTrigger
    package var scheduledAt: Date
    /// The job's concurrency is `forbid`: the slot is skipped while a run of the job is queued
    /// or running on any node.
    package var forbid: Bool
    /// The job's concurrency is `replace`: once the slot is queued, the job's runs of earlier
    /// slots are asked to stop on whichever node runs them, and its earlier queued slots are
    /// skipped.
    package var replace: Bool
    /// One of the slots a job with `catch_up: all` under `forbid` or `replace` runs one after
    /// another (its missed times, and the slot on time with them): queued whatever of the job
    /// is queued or running, and claimed only once no run of the job is running and none of
    /// its such slots before it waits in the queue.
    package var oneAfterAnother: Bool

    package init(job: String, trigger: RunTrigger, scheduledAt: Date, forbid: Bool, replace: Bool = false, oneAfterAnother: Bool = false) {
        self.job = job
        self.trigger = trigger
        self.scheduledAt = scheduledAt
        self.forbid = forbid
        self.replace = replace
        self.oneAfterAnother = oneAfterAnother
    }
}
