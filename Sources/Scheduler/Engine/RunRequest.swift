import Foundation
import SchedulerAPI

/// One attempt of a job waiting for (or holding) a worker.
struct RunRequest: Sendable {
    /// The definition, shared with the job's entry (`JobEntry.sharedSpec`): a request is
    /// copied several times on its way (the pool, the turn, the run's task, its end), and a
    /// copy of the definition itself is 641 bytes and a retain of each of its strings.
    private(set) var sharedSpec: SharedValue<JobSpec>
    var spec: JobSpec { sharedSpec.value }
    var trigger: RunTrigger
    var attempt: Int
    var scheduledAt: Date?
    /// `SCHEDD_TRIGGERED_BY_*` for dependency runs; kept across their retries.
    var extraEnvironment: [String: String]
    /// A dependency run: the jobs whose runs triggered it, one after another, first first.
    /// Validation refuses trigger cycles; this stops one that is stored anyway (a database
    /// edited by hand, or written by an older schedd) at its first turn instead of looping.
    var triggerChain: [String] = []
    /// A retry: the run it retries, whose mark (`runs.retry_at`) its start clears.
    var retryOf: Int64? = nil
    /// Told when the run starts (or is dropped), for a caller that waits for it.
    var startSignal: RunStartSignal? = nil
    /// The write of the fire this run came from, which the store makes durable no later than
    /// the run's start row.
    var fire: StoreWrite? = nil
    /// Who asked for a manual run over the control socket (`runs.triggered_by`).
    var triggeredBy: String? = nil
    /// A dependency run: the run whose end triggered it (`runs.triggered_by_run`).
    var triggeredByRun: Int64? = nil
    /// Cluster mode: a queued slot this node has claimed; its row is `running` already, so its
    /// start writes nothing.
    var claimed: RunRecord? = nil
    /// Its place in the order runs leave the pool (0 before): which runs starting together a
    /// newer one replaces.
    var startNumber: UInt64 = 0
    /// Asked for with `--force`: its job's concurrency does not hold it, on any node.
    var forced = false
    /// A retry refused while a run of its job went on on another node: asked for again when
    /// that run stops (`runEndedElsewhere`), or after `claimRetry`; it says so in
    /// the log once, not at every ask.
    var waitsElsewhere = false

    /// The skipped run to record for this request, which does not run: who and what asked for
    /// it, and which attempt it was, carried over.
    func skip(at now: Date, reason: String) -> RunSkip {
        var skip = RunSkip(job: spec.name, trigger: trigger, scheduledAt: scheduledAt, at: now, reason: reason)
        skip.attempt = attempt
        skip.retryOf = retryOf
        skip.triggeredBy = triggeredBy
        skip.triggeredByRun = triggeredByRun
        return skip
    }

    /// The same request for the job's definition as it is now.
    func withSpec(_ spec: SharedValue<JobSpec>) -> RunRequest {
        var copy = self
        copy.sharedSpec = spec
        return copy
    }

    init(spec: SharedValue<JobSpec>, trigger: RunTrigger, attempt: Int, scheduledAt: Date?, extraEnvironment: [String: String],
         startSignal: RunStartSignal? = nil, fire: StoreWrite? = nil, triggeredBy: String? = nil) {
        self.sharedSpec = spec
        self.trigger = trigger
        self.attempt = attempt
        self.scheduledAt = scheduledAt
        self.extraEnvironment = extraEnvironment
        self.startSignal = startSignal
        self.fire = fire
        self.triggeredBy = triggeredBy
    }
}
