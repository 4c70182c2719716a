import Foundation

/// One row of `GET /v1/jobs`: what `schedctl list` shows.
public struct JobSummary: Sendable, Codable, Equatable {
    public var name: String
    /// `active`, `paused`, `failed` (a service past its restart limit), `disabled`, or `invalid`
    /// (the stored definition cannot be read; `pauseReason` says why). A service has the state
    /// of its supervision instead of `active`: `starting`, `ready`, `stopping`, `waiting`,
    /// `restarting`, `stopped`, or `elsewhere` (cluster mode: another node runs it).
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
    /// Why the job is in its state, where there is a why (a service `waiting` for what it
    /// requires, `restarting` soon, `failed` by its restart limit, `paused` and by what).
    public var reason: String?

    public init(name: String, state: String, pauseReason: String?, schedule: String?, service: Bool, nextRunAt: Date?, lastRun: RunRecord?,
                origin: JobOrigin? = nil, queued: Int? = nil, reason: String? = nil) {
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
        case name, state, pauseReason = "pause_reason", schedule, service, nextRunAt = "next_run_at", lastRun = "last_run", origin, queued, reason
    }
}

/// A service's supervision, in `GET /v1/jobs/{name}`.
public struct ServiceStatus: Sendable, Codable, Equatable {
    /// `starting`, `ready`, `stopping`, `waiting` (for what it requires), `restarting`,
    /// `stopped`, `elsewhere` (cluster mode: another node runs it), `failed`, `paused` or
    /// `disabled`; and why, where there is a why.
    public var state: String
    public var reason: String?
    /// The running process, if the service is up.
    public var pid: Int32?
    public var upSince: Date?
    /// Starts within the current `restart_limit` window, and the limit (no `burst` for
    /// `"restart_limit": "none"`, whose window is the last hour).
    public var startsInWindow: Int
    public var burst: Int?
    public var windowSeconds: Int64
    /// When the next restart is due, if one is waiting.
    public var restartAt: Date?

    public init(state: String, reason: String?, pid: Int32?, upSince: Date?, startsInWindow: Int, burst: Int?, windowSeconds: Int64, restartAt: Date?) {
        self.state = state
        self.reason = reason
        self.pid = pid
        self.upSince = upSince
        self.startsInWindow = startsInWindow
        self.burst = burst
        self.windowSeconds = windowSeconds
        self.restartAt = restartAt
    }

    private enum CodingKeys: String, CodingKey {
        case state, reason, pid, upSince = "up_since", startsInWindow = "starts_in_window", burst, windowSeconds = "window_seconds", restartAt = "restart_at"
    }
}

/// `GET /v1/jobs/{name}`.
public struct JobDetail: Sendable, Codable, Equatable {
    public var summary: JobSummary
    public var job: JobInfo
    public var recentRuns: [RunRecord]
    /// Services only.
    public var service: ServiceStatus?
    /// The next retry of a failed attempt, while one waits for its time.
    public var retry: RetryStatus?

    public init(summary: JobSummary, job: JobInfo, recentRuns: [RunRecord], service: ServiceStatus? = nil, retry: RetryStatus? = nil) {
        self.summary = summary
        self.job = job
        self.recentRuns = recentRuns
        self.service = service
        self.retry = retry
    }

    private enum CodingKeys: String, CodingKey { case summary, job, recentRuns = "recent_runs", service, retry }
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
    /// `started`, `skipped`, or (cluster mode) `queued`: for the node the job is pinned to.
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
