import Foundation

/// `GET /v1/jobs/{name}`.
public struct JobDetail: Sendable, Codable, Equatable {
    public var summary: JobSummary
    public var job: JobInfo
    public var recentRuns: [RunRecord]
    /// Services only.
    public var service: ServiceStatus?
    /// The next retry of a failed attempt, while one waits for its time.
    public var retry: RetryStatus?
    /// The jobs it names that it cannot use (removed, or no longer a service, by a change it
    /// was not part of); nil when none.
    public var brokenReferences: [BrokenReference]?

    public init(summary: JobSummary, job: JobInfo, recentRuns: [RunRecord], service: ServiceStatus? = nil, retry: RetryStatus? = nil,
                brokenReferences: [BrokenReference]? = nil) {
        self.summary = summary
        self.job = job
        self.recentRuns = recentRuns
        self.service = service
        self.retry = retry
        self.brokenReferences = brokenReferences
    }

    private enum CodingKeys: String, CodingKey {
        case summary, job, recentRuns = "recent_runs", service, retry, brokenReferences = "broken_references"
    }
}
