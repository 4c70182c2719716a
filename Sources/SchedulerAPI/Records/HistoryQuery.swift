import Foundation

/// A filter over run history, newest first, paginated by run id.
public struct HistoryQuery: Sendable, Equatable {
    public var job: String?
    public var status: RunStatus?
    /// Only runs started at or after this time.
    public var since: Date?
    /// Only runs with an id below this one: the cursor of the next page.
    public var beforeID: Int64?
    public var limit: Int
    /// Only runs of this user's jobs (`OWNER/NAME`).
    public var owner: String?

    public init(job: String? = nil, status: RunStatus? = nil, since: Date? = nil, beforeID: Int64? = nil, limit: Int = 50) {
        self.job = job
        self.status = status
        self.since = since
        self.beforeID = beforeID
        self.limit = limit
    }

    /// Whether a run of `job` is one this query's `owner` allows.
    public func ownerAllows(_ job: String) -> Bool {
        owner.map { JobOwner.owner(of: job) == $0 } ?? true
    }
}
