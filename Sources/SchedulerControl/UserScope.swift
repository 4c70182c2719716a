import SchedulerAPI

/// How a user (`--allow-users`) sees jobs: their own only, by the name after `OWNER/`. Names
/// that come in are qualified (`backup` is `alice/backup`, and a name of anyone else's cannot
/// be written); what goes out is stripped of the prefix, so that a user's jobs look the same
/// in the CLI, the API and the events as they would on a daemon of their own. A job that is
/// not theirs is answered as one that does not exist.
struct UserScope: Sendable {
    let owner: String

    init(owner: String) { self.owner = owner }

    var prefix: String { owner + "/" }

    /// The stored name of the user's job `name`.
    func stored(_ name: String) -> String { JobOwner.qualified(name, owner: owner) }

    func owns(_ stored: String) -> Bool { JobOwner.owner(of: stored) == owner }

    /// The name the user knows a stored name by.
    func shown(_ stored: String) -> String {
        owns(stored) ? String(stored.dropFirst(prefix.count)) : stored
    }

    /// Members that hold job names, in requests and in answers.
    static let nameKeys: Set<String> = ["name", "job", "on_failure", "on_success", "target"]
    /// Members that hold lists of job names.
    static let nameListKeys: Set<String> = ["after", "requires", "created", "updated", "unchanged", "removed"]
    /// Members whose text may name jobs (errors, reasons).
    static let textKeys: Set<String> = ["message", "error", "reason", "pause_reason"]

    /// A job file (or one job) as the user wrote it, with its names as stored: every job's
    /// name and the jobs it names, in `jobs` and in `defaults`.
    func storedFile(_ file: JSONValue) -> JSONValue {
        guard case let .object(members) = file else { return file }
        return .object(members.map { member in
            switch (member.key, member.value) {
            case let ("jobs", .array(jobs)): return (member.key, .array(jobs.map(storedJob)))
            case ("defaults", _): return (member.key, storedJob(member.value))
            default: return member
            }
        })
    }

    func storedJob(_ job: JSONValue) -> JSONValue {
        guard case let .object(members) = job else { return job }
        return .object(members.map { member in
            switch member.value {
            case let .string(name) where Self.nameKeys.contains(member.key):
                return (member.key, .string(stored(name)))
            case let .array(items) where Self.nameListKeys.contains(member.key):
                return (member.key, .array(items.map { item in
                    if case let .string(name) = item { return .string(stored(name)) }
                    return item
                }))
            default:
                return member
            }
        })
    }

    /// An answer as the user sees it: names stripped of the owner's prefix wherever they are.
    func shown(_ value: JSONValue) -> JSONValue {
        switch value {
        case let .object(members):
            return .object(members.map { member in
                switch member.value {
                case let .string(text) where Self.nameKeys.contains(member.key):
                    return (member.key, .string(shown(text)))
                case let .string(text) where Self.textKeys.contains(member.key):
                    return (member.key, .string(shownText(text)))
                case let .array(items) where Self.nameListKeys.contains(member.key):
                    return (member.key, .array(items.map { item in
                        if case let .string(name) = item { return .string(shown(name)) }
                        return shown(item)
                    }))
                default:
                    return (member.key, shown(member.value))
                }
            })
        case let .array(items):
            return .array(items.map(shown))
        default:
            return value
        }
    }

    /// A message with the user's job names in it (`no job named "alice/x"`, `a -> b`), as the
    /// user knows them. The prefix is taken out where it starts a name: at the start, or after
    /// a character that cannot be part of one (so `/home/alice/x` stays as it is).
    func shownText(_ text: String) -> String {
        guard text.contains(prefix) else { return text }
        var result = ""
        var rest = Substring(text)
        while let range = rest.range(of: prefix) {
            let before = rest[..<range.lowerBound]
            result += before
            let previous = before.last ?? result.last
            if let previous, previous.isLetter || previous.isNumber || "._-/".contains(previous) {
                result += prefix
            }
            rest = rest[range.upperBound...]
        }
        return result + rest
    }

    /// A validation error's issues as the user sees them.
    func shown(_ error: APIError) -> APIError {
        APIError(error.code, shownText(error.message), issues: error.issues.map { issue in
            var issue = issue
            issue.message = shownText(issue.message)
            issue.job = issue.job.map(shown)
            return issue
        })
    }
}
