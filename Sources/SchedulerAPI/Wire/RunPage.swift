import Foundation

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
