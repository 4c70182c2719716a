import Foundation

/// One row of `GET /v1/jobs`: what `schedctl list` shows.
public struct JobSummary: Sendable, Codable, Equatable {
    public var name: String
    /// `active`, `paused`, `failed` (a service past its restart limit), `disabled`, or `invalid`
    /// (the stored definition cannot be read; `pauseReason` says why). A service has the state
    /// of its supervision instead of `active`: `starting`, `ready`, `stopping`, `waiting`,
    /// `restarting`, `stopped`, or `elsewhere` (cluster mode: another node runs it). A job or
    /// service pinned to another node (`node`) without a cluster is `elsewhere`: it never runs.
    public var state: String
    public var pauseReason: String?
    public var schedule: String?
    public var service: Bool
    public var nextRunAt: Date?
    public var lastRun: RunRecord?
    /// Who owns the definition: the `--config` file or the API.
    public var origin: JobOrigin?
    /// Runs of the job waiting for a worker (absent when none).
    public var queued: Int?
    /// What a run of the job waits for before it can start, a job it is ordered `after` or a
    /// service it `requires` ("after load, whose run has not ended"); absent when none waits.
    public var waitsFor: String?
    /// Why the job is in its state, where there is a why (a service `waiting` for what it
    /// requires, `restarting` soon, `failed` by its restart limit, `paused` and by what).
    public var reason: String?

    public init(name: String, state: String, pauseReason: String?, schedule: String?, service: Bool, nextRunAt: Date?, lastRun: RunRecord?,
                origin: JobOrigin? = nil, queued: Int? = nil, reason: String? = nil, waitsFor: String? = nil) {
        self.waitsFor = waitsFor
        self.queued = queued
        self.reason = reason
        self.name = name
        self.state = state
        self.pauseReason = pauseReason
        self.schedule = schedule
        self.service = service
        self.nextRunAt = nextRunAt
        self.lastRun = lastRun
        self.origin = origin
    }

    /// The state word of a stored job.
    public static func state(of info: JobInfo) -> String {
        if info.state.paused { return info.state.pauseReason == "restart_limit" ? "failed" : "paused" }
        return info.spec.isEnabled ? "active" : "disabled"
    }

    private enum CodingKeys: String, CodingKey {
        case name, state, pauseReason = "pause_reason", schedule, service, nextRunAt = "next_run_at", lastRun = "last_run", origin, queued, reason, waitsFor = "waits_for"
    }
}
