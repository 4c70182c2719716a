/// Where a job's definition comes from, and so who may change it: the daemon's `--config`
/// file owns the jobs it names (a reload prunes only those, and the API may not change them),
/// and jobs created over the API survive reloads and restarts.
public struct JobOrigin: Sendable, Equatable, Codable, CustomStringConvertible {
    public enum Kind: String, Sendable, Codable {
        case file, api
    }

    public var kind: Kind
    /// The file's path, or who last changed the job over the API (`uid 1000 (alice)`).
    public var detail: String?
    /// The user an API change is made by (`--allow-users`): a prune by them removes only their
    /// own jobs. Nil for admins and files; not stored (a stored job's owner is in its name).
    public var owner: String?

    public init(kind: Kind, detail: String?, owner: String? = nil) {
        self.kind = kind
        self.detail = detail
        self.owner = owner
    }

    public static func file(_ path: String) -> JobOrigin { JobOrigin(kind: .file, detail: path) }
    public static func api(_ caller: String? = nil, owner: String? = nil) -> JobOrigin { JobOrigin(kind: .api, detail: caller, owner: owner) }

    /// Who made a change, for the audit columns: `file /etc/schedd/jobs.json`, or the API
    /// caller (`uid 1000 (alice)`).
    public var actor: String {
        switch kind {
        case .file: return "file \(detail ?? "?")"
        case .api: return detail ?? "api"
        }
    }

    /// `file /etc/schedd/jobs.json`, `api (uid 0 (root))`.
    public var description: String {
        switch kind {
        case .file: return "file \(detail ?? "?")"
        case .api: return detail.map { "api (\($0))" } ?? "api"
        }
    }
}
