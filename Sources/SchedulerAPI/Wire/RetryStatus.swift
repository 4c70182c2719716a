import Foundation

/// A retry of a failed attempt waiting for its time, in `GET /v1/jobs/{name}`.
public struct RetryStatus: Sendable, Codable, Equatable {
    /// The attempt the retry will be (2 for the first retry).
    public var attempt: Int
    public var dueAt: Date
    /// The id of the failed attempt it follows (absent in answers of older schedd builds).
    public var retryOf: Int64?
    /// The node it waits on (cluster mode; absent for one daemon).
    public var node: String?

    public init(attempt: Int, dueAt: Date, retryOf: Int64? = nil, node: String? = nil) {
        self.attempt = attempt
        self.dueAt = dueAt
        self.retryOf = retryOf
        self.node = node
    }

    private enum CodingKeys: String, CodingKey { case attempt, dueAt = "due_at", retryOf = "retry_of", node }
}
