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
}
