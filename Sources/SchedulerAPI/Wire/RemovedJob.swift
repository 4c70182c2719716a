/// `DELETE /v1/jobs/{name}`: the job removed, and its runs that go on to their end here (a
/// scheduled job's active run is not stopped by its removal; `schedctl cancel NAME` stops it).
public struct RemovedJob: Sendable, Codable, Equatable {
    public var removed: String
    public var goingOn: [Int64]

    public init(removed: String, goingOn: [Int64] = []) {
        self.removed = removed
        self.goingOn = goingOn
    }

    private enum CodingKeys: String, CodingKey { case removed, goingOn = "going_on" }
}
