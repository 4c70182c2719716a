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
}
