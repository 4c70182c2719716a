import Foundation
import SchedulerAPI

/// What a change of the job definitions does, worked out from what a store holds: the rules of
/// ownership, pruning and references, the same for every store.
package struct JobChangePlan: Sendable {
    /// What the change reports (sorted).
    package var result: ApplyResult
    /// The canonical text of each job of the file.
    package var texts: [String: String]
    /// Unchanged definitions whose owner changes.
    package var ownerChanges: [String]

    /// Plans applying `file` by `origin` over jobs whose texts and owners are given. Throws,
    /// changing nothing, when the file names a job the protected file owns or when the result
    /// would leave a reference to a missing job.
    ///
    /// `origin` becomes the owner of every job written. A file's apply claims the jobs it
    /// names, and its prune removes only jobs a file owns. With `protectedFile` (the daemon's
    /// `--config`), an API apply that changes a job the file owns is refused, one that names it
    /// as it is leaves it unchanged and the file's (so that `export` round-trips with `apply`),
    /// and an API prune removes only the API's jobs.
    package init(file: JobFile, existing: [String: String], owners: [String: JobOrigin], prune: Bool, dryRun: Bool,
         origin: JobOrigin, protectedFile: String?) throws {
        if origin.kind == .api, let protectedFile {
            let issues = file.jobs.enumerated().compactMap { index, spec -> ValidationIssue? in
                guard let owner = owners[spec.name], owner.kind == .file, existing[spec.name] != spec.json.serialized() else { return nil }
                return ValidationIssue(jobIndex: index, job: spec.name, path: "",
                                       message: Self.fileOwnedMessage(spec.name, owner, protectedFile))
            }
            if !issues.isEmpty {
                throw APIError(.conflict, "the change names jobs that the job file owns", issues: issues)
            }
        }
        var result = ApplyResult(dryRun: dryRun)
        let fileNames = Set(file.jobs.map(\.name))
        var texts: [String: String] = [:]
        for spec in file.jobs {
            let text = spec.json.serialized()
            texts[spec.name] = text
            switch existing[spec.name] {
            case nil: result.created.append(spec.name)
            case text?: result.unchanged.append(spec.name)
            default: result.updated.append(spec.name)
            }
        }
        if prune {
            result.removed = existing.keys.filter { name in
                !fileNames.contains(name) && Self.prunes(owners[name]?.kind ?? .api, by: origin.kind, protectedFile: protectedFile)
                    && Self.inScope(name, of: origin)
            }
        }
        try Self.checkReferences(existing: Set(existing.keys), file: file, removed: Set(result.removed))
        result.created.sort()
        result.updated.sort()
        result.unchanged.sort()
        result.removed.sort()
        if origin.kind == .file {
            let claimed = file.jobs.map(\.name).filter { owners[$0]?.kind == .api }.sorted()
            result.claimed = claimed.isEmpty ? nil : claimed
        }
        self.result = result
        self.texts = texts
        // An unchanged definition changes hands when another kind of owner applies it (the
        // file claiming a job the API created, or one from before owners existed), or another
        // file does; another API caller leaves it as it was, and so does the API naming a job
        // of the daemon's file as it is.
        ownerChanges = result.unchanged.filter { name in
            if origin.kind == .api, protectedFile != nil, owners[name]?.kind == .file { return false }
            return owners[name]?.kind != origin.kind || (origin.kind == .file && owners[name]?.detail != origin.detail)
        }
    }

    /// Checks that a job may be removed: it exists, the protected file does not own it, and
    /// no other job triggers it.
    package static func checkRemoval(of name: String, owner: JobOrigin?, specs: [JobSpec], protectedFile: String?) throws {
        guard let owner else { throw APIError(.notFound, "no job named \"\(name)\"") }
        if let protectedFile, owner.kind == .file {
            throw APIError(.conflict, fileOwnedMessage(name, owner, protectedFile))
        }
        let dependents = specs.filter { $0.name != name }.sorted { $0.name < $1.name }.compactMap { spec -> String? in
            let fields = spec.references.filter { $0.job == name }.map(\.field)
            return fields.isEmpty ? nil : "\(spec.name) (\(fields.joined(separator: ", ")))"
        }
        if !dependents.isEmpty {
            throw APIError(.conflict, "job \"\(name)\" is named by \(dependents.joined(separator: ", ")); change those first")
        }
    }

    /// Whether a pruning apply by `origin` removes a job that `owner` owns and its file does
    /// not name: a file's prune removes only file jobs; an API prune removes only API jobs
    /// while the daemon has a `--config` file (`protectedFile`), and any job without one.
    package static func prunes(_ owner: JobOrigin.Kind, by origin: JobOrigin.Kind, protectedFile: String?) -> Bool {
        switch origin {
        case .file: return owner == .file
        case .api: return protectedFile == nil || owner == .api
        }
    }

    /// Whether a pruning apply by `origin` may remove `name` at all: an API prune removes only
    /// the caller's own jobs (a user's, or the admins' jobs that no user owns); a file's
    /// prune, every job the file owns.
    static func inScope(_ name: String, of origin: JobOrigin) -> Bool {
        origin.kind == .file || JobOwner.owner(of: name) == origin.owner
    }

    static func fileOwnedMessage(_ name: String, _ owner: JobOrigin, _ protectedFile: String) -> String {
        "job \"\(name)\" is defined in \(owner.detail ?? protectedFile), the daemon's --config file: edit \(owner.detail ?? protectedFile) and run `schedctl reload` (a change made here would be undone by the next reload)"
    }

    /// After the change, every job the file's jobs name (`on_failure`, `on_success`, `after`,
    /// `requires`) must still exist. (A job outside the file that names a job a prune removes
    /// is not the file's to change: the change is made, and the engine tells of it,
    /// `JobScheduler.brokenReferences(after:file:owner:)`.)
    static func checkReferences(existing: Set<String>, file: JobFile, removed: Set<String>) throws {
        let final = existing.subtracting(removed).union(file.jobs.map(\.name))
        var issues: [ValidationIssue] = []
        for (index, spec) in file.jobs.enumerated() {
            for (path, target) in spec.references {
                guard !final.contains(target) else { continue }
                let why = removed.contains(target) ? " (--prune would remove it)" : ""
                issues.append(ValidationIssue(jobIndex: index, job: spec.name, path: path, message: "no job named \"\(target)\"\(why)"))
            }
        }
        if !issues.isEmpty {
            throw APIError(.conflict, "the change would leave jobs that trigger missing jobs", issues: issues)
        }
    }
}
