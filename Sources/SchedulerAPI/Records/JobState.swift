import Foundation

/// The engine's state of a job, as stored in `job_state`.
public struct JobState: Sendable, Equatable, Codable {
    public var paused: Bool
    /// `manual`, `failure_threshold`, or `restart_limit` (a service in state `failed`).
    public var pauseReason: String?
    public var consecutiveFailures: Int
    public var lastRunID: Int64?
    public var nextRunAt: Date?
    public var lastFireAt: Date?

    public init(paused: Bool = false, pauseReason: String? = nil, consecutiveFailures: Int = 0,
                lastRunID: Int64? = nil, nextRunAt: Date? = nil, lastFireAt: Date? = nil) {
        self.paused = paused
        self.pauseReason = pauseReason
        self.consecutiveFailures = consecutiveFailures
        self.lastRunID = lastRunID
        self.nextRunAt = nextRunAt
        self.lastFireAt = lastFireAt
    }

    private enum CodingKeys: String, CodingKey {
        case paused, pauseReason = "pause_reason", consecutiveFailures = "consecutive_failures"
        case lastRunID = "last_run_id", nextRunAt = "next_run_at", lastFireAt = "last_fire_at"
    }
}
