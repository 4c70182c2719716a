/// What applying a job file changed (or, for a dry run, would change). Names are sorted.
public struct ApplyResult: Sendable, Equatable, Codable {
    public var created: [String]
    public var updated: [String]
    public var unchanged: [String]
    public var removed: [String]
    public var dryRun: Bool

    public init(created: [String] = [], updated: [String] = [], unchanged: [String] = [], removed: [String] = [], dryRun: Bool = false) {
        self.created = created
        self.updated = updated
        self.unchanged = unchanged
        self.removed = removed
        self.dryRun = dryRun
    }

    private enum CodingKeys: String, CodingKey {
        case created, updated, unchanged, removed, dryRun = "dry_run"
    }
}
