import Foundation

/// A retry of a failed attempt waiting for its time, in `GET /v1/jobs/{name}`.
public struct RetryStatus: Sendable, Codable, Equatable {
    /// The attempt the retry will be (2 for the first retry).
    public var attempt: Int
    public var dueAt: Date

    public init(attempt: Int, dueAt: Date) {
        self.attempt = attempt
        self.dueAt = dueAt
    }

    private enum CodingKeys: String, CodingKey { case attempt, dueAt = "due_at" }
}
