/// `POST /v1/jobs/{name}/cancel` and `POST /v1/runs/{id}/cancel`: what the cancel reached.
public struct CancelResponse: Sendable, Codable, Equatable {
    /// The active runs asked to stop.
    public var cancelled: [Int64]
    /// Retries that had not started, recorded `skipped` instead: their rows.
    public var retriesSkipped: [Int64]
    /// A job's other runs that had not started, recorded `skipped` instead: their rows.
    public var waitingSkipped: [Int64]?
    /// A job's runs whose start was being written as the cancel came (no id yet): each is
    /// stopped as it begins and recorded `cancelled`. Absent when none.
    public var starting: Int?

    public init(cancelled: [Int64], retriesSkipped: [Int64], waitingSkipped: [Int64]? = nil, starting: Int? = nil) {
        self.cancelled = cancelled
        self.retriesSkipped = retriesSkipped
        self.waitingSkipped = waitingSkipped
        self.starting = starting
    }

    private enum CodingKeys: String, CodingKey {
        case cancelled, retriesSkipped = "retries_skipped", waitingSkipped = "waiting_skipped", starting
    }
}
