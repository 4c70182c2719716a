/// A job naming one it cannot use (`on_failure`, `on_success`, `after`, `requires`): a job
/// that does not exist, or, in `requires`, one that is not a service. Left by a change that
/// removed or changed the named job while a job outside that change names it (a reload or
/// prune of the job file, an apply of a service as a plain job). A job file is refused when
/// its own jobs name such a job; jobs outside it are not the change's to change, so they are
/// told of instead.
public struct BrokenReference: Sendable, Codable, Equatable {
    /// The job that names the other.
    public var job: String
    /// What is wrong, and what it does to the job: `requires: no job named "db": its runs are
    /// skipped until there is one`.
    public var message: String

    public init(job: String, message: String) {
        self.job = job
        self.message = message
    }

    /// The references of `spec` that are broken: to a job that `exists` says is not there, or,
    /// in `requires`, to one that `isService` says is not a service (nil: not known, taken as
    /// fine). Only those to a name in `among`, when given.
    public static func of(_ spec: JobSpec, among names: Set<String>? = nil, exists: (String) -> Bool,
                          isService: (String) -> Bool?) -> [BrokenReference] {
        spec.references.compactMap { field, name in
            guard names?.contains(name) ?? true else { return nil }
            if !exists(name) {
                return BrokenReference(job: spec.name, message: "\(field): no job named \"\(name)\": \(consequence(of: field))")
            }
            if field == "requires", isService(name) == false {
                return BrokenReference(job: spec.name, message: "requires: \"\(name)\" is not a service: its runs are skipped until it is one")
            }
            return nil
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
