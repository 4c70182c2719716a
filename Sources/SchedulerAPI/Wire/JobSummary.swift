import Foundation

/// One row of `GET /v1/jobs`: what `schedctl list` shows.
public struct JobSummary: Sendable, Codable, Equatable {
    public var name: String
    /// `active`, `paused`, `failed` (a service past its restart limit) or `disabled`.
    public var state: String
    public var pauseReason: String?
    public var schedule: String?
    public var service: Bool
    public var nextRunAt: Date?
    public var lastRun: RunRecord?

    public init(name: String, state: String, pauseReason: String?, schedule: String?, service: Bool, nextRunAt: Date?, lastRun: RunRecord?) {
        self.name = name
        self.state = state
        self.pauseReason = pauseReason
        self.schedule = schedule
        self.service = service
        self.nextRunAt = nextRunAt
        self.lastRun = lastRun
    }

    /// The state word of a stored job.
    public static func state(of info: JobInfo) -> String {
        if info.state.paused { return info.state.pauseReason == "restart_limit" ? "failed" : "paused" }
        return info.spec.isEnabled ? "active" : "disabled"
    }

    private enum CodingKeys: String, CodingKey {
        case name, state, pauseReason = "pause_reason", schedule, service, nextRunAt = "next_run_at", lastRun = "last_run"
    }
}

/// `GET /v1/jobs/{name}`.
public struct JobDetail: Sendable, Codable, Equatable {
    public var summary: JobSummary
    public var job: JobInfo
    public var recentRuns: [RunRecord]

    public init(summary: JobSummary, job: JobInfo, recentRuns: [RunRecord]) {
        self.summary = summary
        self.job = job
        self.recentRuns = recentRuns
    }

    private enum CodingKeys: String, CodingKey { case summary, job, recentRuns = "recent_runs" }
}

/// `GET /v1/runs`: a page of history, newest first; `next_cursor` fetches the next page.
public struct RunPage: Sendable, Codable, Equatable {
    public var runs: [RunRecord]
    public var nextCursor: Int64?

    public init(runs: [RunRecord], nextCursor: Int64?) {
        self.runs = runs
        self.nextCursor = nextCursor
    }

    private enum CodingKeys: String, CodingKey { case runs, nextCursor = "next_cursor" }
}

/// `POST /v1/jobs/{name}/run`: the run that started, or the skipped record.
public struct TriggerResponse: Sendable, Codable, Equatable {
    /// `started` or `skipped`.
    public var outcome: String
    public var run: RunRecord

    public init(outcome: String, run: RunRecord) {
        self.outcome = outcome
        self.run = run
    }
}

/// The error body of every failed request: `{"error": {"code": "…", "message": "…"}}`.
public struct ErrorResponse: Sendable, Codable, Equatable {
    public var error: APIError
    public init(error: APIError) { self.error = error }
}
