/// A job naming one that does not exist (`on_failure`, `on_success`, `after`, `requires`): left
/// by a change that removed the named job while a job outside that change still names it (a
/// reload or prune of the job file, jobs created over the API naming the file's). A job file is
/// refused when its own jobs name a missing job; jobs outside it are not changed by it, so they
/// are told of instead.
public struct MissingReference: Sendable, Codable, Equatable {
    /// The job that names the missing one.
    public var job: String
    /// What is wrong, and what it does to the job: `requires: no job named "db": its runs are
    /// skipped until there is one`.
    public var message: String

    public init(job: String, message: String) {
        self.job = job
        self.message = message
    }

    /// The references of `spec` to jobs not in `existing`, one per field and name.
    public static func of(_ spec: JobSpec, existing: (String) -> Bool) -> [MissingReference] {
        spec.references.filter { !existing($0.job) }.map { field, name in
            MissingReference(job: spec.name, message: "\(field): no job named \"\(name)\": \(consequence(of: field))")
        }
    }

    /// What a missing job named in `field` does to the job naming it.
    static func consequence(of field: String) -> String {
        switch field {
        case "requires": return "its runs are skipped until there is one"
        case "on_failure", "on_success": return "its runs' ends trigger nothing there"
        default: return "it orders nothing"
        }
    }
}
