import Foundation
import SchedulerAPI

/// One attempt of a job waiting for (or holding) a worker.
struct RunRequest: Sendable {
    var spec: JobSpec
    var trigger: RunTrigger
    var attempt: Int
    var scheduledAt: Date?
    /// `SCHEDD_TRIGGERED_BY_*` for dependency runs; kept across their retries.
    var extraEnvironment: [String: String]
    /// Told when the run starts (or is dropped), for a caller that waits for it.
    var startSignal: RunStartSignal? = nil
    /// The write of the fire this run came from, which the store makes durable no later than
    /// the run's start row.
    var fire: StoreWrite? = nil
    /// Who asked for a manual run over the control socket (`runs.triggered_by`).
    var triggeredBy: String? = nil
    /// Cluster mode: a queued slot this node has claimed; its row is `running` already, so its
    /// start writes nothing.
    var claimed: RunRecord? = nil
}
