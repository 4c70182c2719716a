/// What applying a job file changed (or, for a dry run, would change). Names are sorted.
public struct ApplyResult: Sendable, Equatable, Codable {
    public var created: [String]
    public var updated: [String]
    public var unchanged: [String]
    public var removed: [String]
    public var dryRun: Bool
    /// Jobs outside the change (not in the file, not removed) that name a job it removes, or
    /// `require` a service it makes a plain job: the change is made, and they are told of here
    /// (and by `schedctl status` while they do). Nil when there are none.
    public var brokenReferences: [BrokenReference]?
    /// Jobs created over the API that a job file's apply took (it names them): they are the
    /// file's from then on, and `schedctl apply`/`remove` of them are refused. Nil when none.
    public var claimed: [String]?
    /// Jobs the change created or changed whose runs cannot start on this machine as things
    /// stand (a program or working directory that is not there); in cluster mode also each job
    /// a node's job file changes from what another node's file made it. Nil when none.
    public var warnings: [JobWarning]?

    public init(created: [String] = [], updated: [String] = [], unchanged: [String] = [], removed: [String] = [], dryRun: Bool = false,
                brokenReferences: [BrokenReference]? = nil, claimed: [String]? = nil, warnings: [JobWarning]? = nil) {
        self.claimed = claimed
        self.warnings = warnings
        self.created = created
        self.updated = updated
        self.unchanged = unchanged
        self.removed = removed
        self.dryRun = dryRun
        self.brokenReferences = brokenReferences
    }

    private enum CodingKeys: String, CodingKey {
        case created, updated, unchanged, removed, dryRun = "dry_run", brokenReferences = "broken_references", claimed, warnings
    }
}
