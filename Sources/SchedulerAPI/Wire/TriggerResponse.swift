import Foundation

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
