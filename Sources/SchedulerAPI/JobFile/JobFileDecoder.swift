import Foundation

/// Turns a parsed job file into validated `JobSpec`s, collecting every problem instead of
/// stopping at the first.
struct JobFileDecoder {
    static let jobKeys = [
        "name", "description", "command", "shell", "handler", "params", "schedule", "timezone",
        "enabled", "timeout", "kill_grace", "retries", "retry_backoff", "retry_backoff_max",
        "max_consecutive_failures", "concurrency", "catch_up", "jitter", "on_failure", "on_success",
        "env", "working_dir", "user", "group", "restart", "restart_delay", "restart_limit", "restart_delay_max",
        "restart_reset_after", "output_limit", "after", "requires", "requires_wait", "ready_after", "ready_check",
        "ready_interval", "ready_timeout", "node",
    ]
    /// Keys that `defaults` may set: everything that is a policy rather than the job's identity.
    static let defaultKeys = [
        "timezone", "timeout", "kill_grace", "retries", "retry_backoff", "retry_backoff_max",
        "max_consecutive_failures", "concurrency", "catch_up", "jitter", "on_failure", "on_success",
        "env", "working_dir", "user", "group", "restart_delay", "restart_limit", "restart_delay_max", "restart_reset_after",
        "output_limit", "requires_wait", "ready_after", "ready_interval", "ready_timeout",
    ]
    /// Fields of scheduled and triggered jobs that a service may not set: it is restarted by
    /// its `restart` rule, runs as one process, and has no schedule to catch up or jitter.
    static let scheduledOnlyKeys = [
        "retries", "retry_backoff", "retry_backoff_max", "max_consecutive_failures", "concurrency", "catch_up", "jitter",
    ]
    /// Fields that only a service may set.
    static let serviceKeys = [
        "restart_delay", "restart_limit", "restart_delay_max", "restart_reset_after", "ready_after", "ready_check",
        "ready_interval", "ready_timeout",
    ]
    static let maxOutputLimit: Int64 = 16 << 20
    static let reservedEnvironment: Set<String> = [
        "SCHEDD_JOB", "SCHEDD_RUN_ID", "SCHEDD_ATTEMPT", "SCHEDD_INSTANCE", "SCHEDD_SCHEDULED_AT", "SCHEDD_NODE",
        "SCHEDD_TRIGGERED_BY_JOB", "SCHEDD_TRIGGERED_BY_RUN", "SCHEDD_TRIGGERED_BY_STATUS",
    ]

    let context: ValidationContext
    var issues: [ValidationIssue] = []
    /// Where issues are being reported: a job of the file, or the file itself (nil).
    var jobIndex: Int?
    var jobName: String?
    /// Prefix for paths outside jobs (`defaults.`).
    var pathPrefix = ""
    /// The jobs' `on_failure`/`on_success` that came from `defaults`, by job: a problem with
    /// one says so, since the job itself does not name it.
    var triggersFromDefaults: [String: Set<String>] = [:]

    init(context: ValidationContext) { self.context = context }

    mutating func report(_ path: String, _ message: String) {
        issues.append(ValidationIssue(jobIndex: jobIndex, job: jobName, path: pathPrefix + path, message: message))
    }

    // MARK: - The file

    static func decode(_ root: JSONValue, context: ValidationContext) throws(APIError) -> JobFile {
        var decoder = JobFileDecoder(context: context)
        let jobs = decoder.decodeFile(root)
        if !decoder.issues.isEmpty {
            // File-level problems first, then job by job in file order.
            let ordered = decoder.issues.enumerated().sorted {
                ($0.element.jobIndex ?? -1, $0.offset) < ($1.element.jobIndex ?? -1, $1.offset)
            }.map(\.element)
            decoder.issues = ordered
            let count = decoder.issues.count
            throw APIError(.invalidJobFile, "the job file has \(count) error\(count == 1 ? "" : "s")", issues: decoder.issues)
        }
        return JobFile(jobs: jobs)
    }

    /// Decodes one job given on its own (an API request, or a row of the database).
    static func decodeJob(_ value: JSONValue, context: ValidationContext) throws(APIError) -> JobSpec {
        var decoder = JobFileDecoder(context: context)
        let decoded = decoder.decodeJob(value, index: nil, defaults: [])
        if let (spec, _) = decoded {
            decoder.checkReferences([spec])
        }
        guard let (spec, _) = decoded, decoder.issues.isEmpty else {
            throw APIError(.invalidJobFile, "the job is invalid", issues: decoder.issues)
        }
        return spec
    }

    mutating func decodeFile(_ root: JSONValue) -> [JobSpec] {
        guard case let .object(members) = root else {
            if case let .array(items) = root, items.contains(where: { if case .object = $0 { true } else { false } }) {
                report("", "the file must be a JSON object with a \"jobs\" array, got an array: put the jobs in one, {\"jobs\": [ … ]}")
            } else {
                report("", "the file must be a JSON object with a \"jobs\" array, got \(root.kindDescription)")
            }
            return []
        }
        // One job on its own (a definition as `schedctl show` prints it): one clear word
        // rather than each of its fields reported unknown at the top.
        if root["jobs"] == nil, root["defaults"] == nil, root["name"] != nil || members.contains(where: { ["command", "shell", "handler"].contains($0.key) }) {
            let name = root["name"].flatMap { if case let .string(s) = $0 { " \"\(s)\"" } else { nil } } ?? ""
            report("", "this is one job\(name), not a job file: put it in a \"jobs\" array, {\"jobs\": [{\"name\": …}]}")
            return []
        }
        for member in members where member.key != "jobs" && member.key != "defaults" {
            report(member.key, unknownFieldMessage(member.key, among: ["jobs", "defaults"]))
        }
        var defaults: [(key: String, value: JSONValue)] = []
        if let value = root["defaults"] {
            if case let .object(d) = value {
                pathPrefix = "defaults."
                for (key, _) in d where !Self.defaultKeys.contains(key) {
                    if Self.jobKeys.contains(key) {
                        report(key, "not allowed in defaults (set it on each job)")
                    } else {
                        report(key, unknownFieldMessage(key, among: Self.defaultKeys))
                    }
                }
                defaults = d.filter { Self.defaultKeys.contains($0.key) }
                // Check the defaults once on their own, so that a bad default is reported once
                // rather than once per job.
                var probe = JobSpec(name: "defaults", action: .shell("true"))
                let before = issues.count
                decodePolicies(from: .object(defaults), into: &probe)
                pathPrefix = ""
                let badKeys = Set(issues[before...].map { String($0.path.dropFirst("defaults.".count).prefix { $0 != "." }) })
                defaults.removeAll { badKeys.contains($0.key) }
            } else {
                report("defaults", "expected an object, got \(value.kindDescription)")
            }
        }
        guard let jobsValue = root["jobs"] else {
            report("jobs", "required: the array of jobs")
            return []
        }
        guard case let .array(items) = jobsValue else {
            report("jobs", "expected an array of jobs, got \(jobsValue.kindDescription)")
            return []
        }
        var specs: [JobSpec] = []
        var named: [JobSpec] = []
        var firstIndex: [String: Int] = [:]
        for (index, item) in items.enumerated() {
            guard let (spec, valid) = decodeJob(item, index: index, defaults: defaults) else { continue }
            guard !spec.name.isEmpty else { continue }
            if let earlier = firstIndex[spec.name] {
                jobIndex = index
                jobName = spec.name
                report("name", "\"\(spec.name)\" is already used by jobs[\(earlier)]")
                continue
            }
            firstIndex[spec.name] = index
            named.append(spec)
            if valid { specs.append(spec) }
        }
        jobIndex = nil
        jobName = nil
        // References are checked on every named job, valid or not, so that one run reports all.
        checkReferences(named, indices: firstIndex)
        return specs
    }

    /// `on_failure`/`on_success`, `after` and `requires` must name a job of the file or of the
    /// database, not the job itself; `requires` must name a service; no chain of `after` and
    /// `requires` may come back to where it started, and no chain of `on_failure` and
    /// `on_success` either (its runs would trigger each other without end).
    mutating func checkReferences(_ specs: [JobSpec], indices: [String: Int] = [:]) {
        guard context.checkReferences else { return }
        let known = context.existingJobs.union(specs.map(\.name))
        var services = context.existingServices.intersection(context.existingJobs)
        for spec in specs {
            if spec.isService { services.insert(spec.name) } else { services.remove(spec.name) }
        }
        for spec in specs {
            jobIndex = indices[spec.name]
            jobName = spec.name
            for (key, target) in [("on_failure", spec.onFailure), ("on_success", spec.onSuccess)] {
                guard let target else { continue }
                if target == spec.name {
                    report(key, "a job cannot trigger itself")
                } else if !known.contains(target) {
                    let hint = NearMiss.suggest(target, among: known).map { " (did you mean \"\($0)\"?)" } ?? ""
                    report(key, "no job named \"\(target)\"\(hint)\(fromDefaults(key, of: spec.name))")
                }
            }
            for key in ["after", "requires"] {
                for (i, target) in ((key == "after" ? spec.after : spec.requires) ?? []).enumerated() {
                    if !known.contains(target) {
                        let hint = NearMiss.suggest(target, among: known).map { " (did you mean \"\($0)\"?)" } ?? ""
                        report("\(key)[\(i)]", "no job named \"\(target)\"\(hint)")
                    } else if key == "requires" && !services.contains(target) {
                        report("\(key)[\(i)]", "\"\(target)\" is not a service: only a service (restart: \"on-failure\" or \"always\") can be required; use \"after\" to run after a job")
                    }
                }
            }
        }
        checkCycles(specs, indices: indices)
        jobIndex = nil
        jobName = nil
    }

    /// Reports each cycle of `after`/`requires`, and each of `on_failure`/`on_success`, once, at
    /// the first job of the file on it, with its path (`a -> b -> a`).
    mutating func checkCycles(_ specs: [JobSpec], indices: [String: Int]) {
        var edges = context.existingDependencies.filter { context.existingJobs.contains($0.key) }
        for spec in specs { edges[spec.name] = spec.dependencies }
        var reported = Set<Set<String>>()
        for spec in specs {
            guard let cycle = Self.cycle(from: spec.name, edges: edges) else { continue }
            let members = Set(cycle)
            guard reported.insert(members).inserted else { continue }
            jobIndex = indices[spec.name]
            jobName = spec.name
            let field = (spec.requires ?? []).contains(cycle[1]) ? "requires" : "after"
            report(field, "dependency cycle: \(cycle.joined(separator: " -> "))")
        }
        // A job triggering itself is reported where it is named.
        var triggers = context.existingTriggers.filter { context.existingJobs.contains($0.key) }
        for spec in specs { triggers[spec.name] = spec.triggers.filter { $0 != spec.name } }
        reported = []
        for spec in specs {
            guard let cycle = Self.cycle(from: spec.name, edges: triggers) else { continue }
            guard reported.insert(Set(cycle)).inserted else { continue }
            jobIndex = indices[spec.name]
            jobName = spec.name
            let field = spec.onFailure == cycle[1] ? "on_failure" : "on_success"
            report(field, "trigger cycle: \(cycle.joined(separator: " -> ")): each run would trigger the next without end (retries repeat a failed run; a chain of jobs must end)"
                   + Self.defaultsOnCycle(cycle, triggersFromDefaults, specs))
        }
    }

    /// " (set by defaults.on_failure)" when the job's `key` came from `defaults`.
    func fromDefaults(_ key: String, of job: String) -> String {
        triggersFromDefaults[job]?.contains(key) == true ? " (set by defaults.\(key))" : ""
    }

    /// Which links of a trigger cycle `defaults` made (`m -> n` by defaults.on_success), when
    /// any did: the jobs themselves may name none of them.
    static func defaultsOnCycle(_ cycle: [String], _ fromDefaults: [String: Set<String>], _ specs: [JobSpec]) -> String {
        let byName = Dictionary(specs.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let links = zip(cycle, cycle.dropFirst()).compactMap { from, to -> String? in
            guard let spec = byName[from] else { return nil }
            let key = spec.onFailure == to ? "on_failure" : "on_success"
            return fromDefaults[from]?.contains(key) == true ? "\(from) -> \(to) by defaults.\(key)" : nil
        }
        return links.isEmpty ? "" : " (set by defaults: \(links.joined(separator: ", ")))"
    }

    /// A path from `start` back to itself along `edges`, if there is one (depth first, in the
    /// order the edges are listed).
    static func cycle(from start: String, edges: [String: [String]]) -> [String]? {
        var visited = Set<String>()
        var path = [start]
        func walk(_ node: String) -> Bool {
            for next in edges[node] ?? [] {
                if next == start {
                    path.append(start)
                    return true
                }
                guard visited.insert(next).inserted else { continue }
                path.append(next)
                if walk(next) { return true }
                path.removeLast()
            }
            return false
        }
        return walk(start) ? path : nil
    }

    // MARK: - One job

    /// The job as far as it could be read, and whether it had no problem; nil when it is not
    /// even an object.
    mutating func decodeJob(_ value: JSONValue, index: Int?, defaults: [(key: String, value: JSONValue)]) -> (JobSpec, Bool)? {
        jobIndex = index
        jobName = nil
        defer { jobIndex = nil; jobName = nil }
        guard case let .object(members) = value else {
            report("", "a job must be an object, got \(value.kindDescription)")
            return nil
        }
        let issuesBefore = issues.count

        // The name first, so that every later message can carry it.
        var name = ""
        switch value["name"] {
        case nil: report("name", "required")
        case let .string(s)?:
            if Self.isValidName(s) {
                name = s
                jobName = s
            } else {
                report("name", "\"\(s)\" is not a valid name: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit (a user's job: OWNER/NAME)")
            }
        case let other?: report("name", "expected a string, got \(other.kindDescription)")
        }

        for (key, _) in members where !Self.jobKeys.contains(key) {
            report(key, unknownFieldMessage(key, among: Self.jobKeys))
        }

        let action = decodeAction(value)
        var spec = JobSpec(name: name, action: action ?? .shell(""))
        spec.description = string(value, "description")
        if let node = string(value, "node") {
            if let problem = NodeNames.problem(node) { report("node", "\"\(node)\": \(problem)") } else { spec.node = node }
        }
        spec.enabled = bool(value, "enabled")
        spec.schedule = string(value, "schedule")
        var schedule: Schedule?
        if let text = spec.schedule {
            do throws(APIError) {
                schedule = try Schedule(parsing: text)
            } catch {
                report("schedule", error.message)
            }
        }
        if case let .string(r)? = value["restart"] {
            if let policy = RestartPolicy(rawValue: r) {
                spec.restart = policy
            } else {
                report("restart", enumMessage(r, RestartPolicy.allCases.map(\.rawValue)))
            }
        } else if let other = value["restart"] {
            report("restart", "expected a string, got \(other.kindDescription)")
        }

        // Policies: the job's own value, else the default. A default on_failure/on_success is
        // not applied to the very job it names.
        var merged = members.filter { Self.defaultKeys.contains($0.key) }
        for d in defaults where value[d.key] == nil {
            if (d.key == "on_failure" || d.key == "on_success"), case .string(name) = d.value { continue }
            if Self.serviceKeys.contains(d.key) && !spec.isService { continue }
            // A service waits for what it requires as long as it takes.
            if d.key == "requires_wait" && spec.isService { continue }
            // A service runs until it is stopped: a default timeout meant for scheduled jobs
            // would kill it every `timeout` (a service may still set its own).
            if d.key == "timeout" && spec.isService { continue }
            if d.key == "on_failure" || d.key == "on_success" { triggersFromDefaults[name, default: []].insert(d.key) }
            merged.append(d)
        }
        // env merges key by key, the job's value winning.
        if case let .object(jobEnv)? = value["env"], case let .object(defEnv)? = defaults.first(where: { $0.key == "env" })?.value {
            var combined = defEnv.filter { d in !jobEnv.contains { $0.key == d.key } }
            combined.append(contentsOf: jobEnv)
            merged.removeAll { $0.key == "env" }
            merged.append((key: "env", value: .object(combined)))
        }
        // A service takes none of them, from defaults or of its own (refused below; a
        // definition stored before they were refused keeps working: they never applied).
        if spec.isService { merged.removeAll { Self.scheduledOnlyKeys.contains($0.key) } }
        decodePolicies(from: .object(merged), into: &spec)

        // Rules between fields.
        if spec.isService {
            if spec.schedule != nil {
                report("schedule", "a service (restart: \"\(spec.restart!.rawValue)\") is started with the daemon and has no schedule; remove one of the two")
            }
            if value["requires_wait"] != nil {
                report("requires_wait", "a service waits for what it requires as long as it takes; requires_wait applies to scheduled and triggered jobs")
            }
            if value["ready_after"] != nil && value["ready_check"] != nil {
                report("ready_after", "\"ready_after\" and \"ready_check\" exclude each other: a service with a ready_check is ready when it passes")
            }
            if !context.readsStoredDefinition {
                for key in Self.scheduledOnlyKeys where value[key] != nil {
                    report(key, Self.serviceIgnores(key))
                }
            }
        } else {
            // A fire delayed past the next slot makes that slot missed. A definition stored
            // before this was refused keeps loading (its jitter works as it did).
            if !context.readsStoredDefinition, let jitter = spec.jitter?.milliseconds, jitter > 0,
               let interval = schedule?.shortestInterval, jitter >= interval {
                let source = value["jitter"] == nil ? " (set by defaults.jitter)" : ""
                report("jitter", "\(DurationText.format(milliseconds: jitter)) is not shorter than the \(DurationText.format(milliseconds: interval)) between the schedule's fires: a fire delayed that long would pass the next one; use a jitter under \(DurationText.format(milliseconds: interval))\(source)")
            }
            for key in Self.serviceKeys where value[key] != nil {
                report(key, "only applies to a service: set \"restart\" to \"on-failure\" or \"always\"")
            }
        }
        spec.after = nameList(value, "after")
        spec.requires = nameList(value, "requires")
        // Set on the job (not by defaults, which reach every job), it says the job waits for
        // services it does not name. A stored definition still loads: it never applied.
        if !spec.isService, value["requires_wait"] != nil, value["requires"] == nil, !context.readsStoredDefinition {
            report("requires_wait", "has no effect without \"requires\": it is how long a run waits for the services it requires to be ready")
        }
        spec.readyCheck = readyCheck(value)
        if issues.count == issuesBefore, let bytes = Self.execBytes(spec), bytes > Self.execTotalLimit {
            let field = spec.env?.isEmpty == false ? "env" : { if case .shell = spec.action { "shell" } else { "command" } }()
            report(field, "the command and the environment are \(bytes) bytes together (with what schedd adds); Linux passes at most \(Self.execTotalLimit) to a new program (a quarter of the stack limit, `ulimit -s`): put the data in a file")
        }
        if let handlers = context.handlers, case let .handler(h, _)? = action, !handlers.contains(h) {
            let hint = NearMiss.suggest(h, among: handlers).map { " (did you mean \"\($0)\"?)" } ?? ""
            report("handler", "no handler named \"\(h)\" is registered\(hint)")
        }
        // A user's job names only that user's jobs: it cannot trigger, wait for or be ordered
        // after anyone else's.
        if let owner = JobOwner.owner(of: name) {
            let references = [("on_failure", spec.onFailure.map { [$0] }), ("on_success", spec.onSuccess.map { [$0] }),
                              ("after", spec.after), ("requires", spec.requires)]
            for (key, names) in references {
                for target in names ?? [] where JobOwner.owner(of: target) != owner {
                    report(key, "\"\(target)\" is not a job of \(owner): a user's job may name only the same user's jobs")
                }
            }
        }
        return (spec, issues.count == issuesBefore && action != nil)
    }

    /// A job's name: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit;
    /// a user's job is named `OWNER/NAME` (`JobOwner`).
    static func isValidName(_ s: String) -> Bool {
        if let slash = s.firstIndex(of: "/") {
            return JobOwner.isValidAccountName(String(s[..<slash])) && isValidPlainName(String(s[s.index(after: slash)...]))
        }
        return isValidPlainName(s)
    }

    static func isValidPlainName(_ s: String) -> Bool {
        let bytes = Array(s.utf8)
        guard (1...64).contains(bytes.count) else { return false }
        func alnum(_ b: UInt8) -> Bool {
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
        }
        return alnum(bytes[0]) && bytes.allSatisfy { alnum($0) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }
    }

    /// A list of job names (`after`, `requires`): each valid, none twice, not the job itself.
    mutating func nameList(_ object: JSONValue, _ key: String) -> [String]? {
        guard let value = object[key] else { return nil }
        guard case let .array(items) = value else {
            report(key, "expected an array of job names, got \(value.kindDescription)")
            return nil
        }
        var names: [String] = []
        for (i, item) in items.enumerated() {
            guard case let .string(name) = item else {
                report("\(key)[\(i)]", "expected a job name, got \(item.kindDescription)")
                continue
            }
            if !Self.isValidName(name) {
                report("\(key)[\(i)]", "\"\(name)\" is not a valid job name")
            } else if names.contains(name) {
                report("\(key)[\(i)]", "\"\(name)\" is listed twice")
            } else if let jobName, name == jobName {
                report("\(key)[\(i)]", key == "requires" ? "a job cannot require itself" : "a job cannot be ordered after itself")
            } else {
                names.append(name)
            }
        }
        return names
    }

    /// The most bytes Linux passes in one argument or one `NAME=value` of the environment
    /// (`MAX_ARG_STRLEN`, 32 pages, less the terminating NUL): a longer one makes every start
    /// of the job fail with "Argument list too long".
    static let execStringLimit = 131_071

    /// The most bytes of arguments and environment (strings, their NULs and pointers) Linux
    /// takes in one exec: a quarter of the stack limit, at least 32 pages and at most 6 MiB
    /// (`fs/exec.c`). Read from this process's limit, which the jobs it starts inherit.
    static let execTotalLimit: Int = {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_STACK.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max else { return 6 << 20 }
        return min(6 << 20, max(32 * 4096, Int(clamping: limit.rlim_cur / 4)))
    }()

    /// What a process run of `spec` hands to exec, less what schedd adds (its variables, the
    /// entry program's arguments): counted as a margin of 8 KiB. Nil for a handler.
    static func execBytes(_ spec: JobSpec) -> Int? {
        let arguments: [String]
        switch spec.action {
        case let .command(argv): arguments = argv
        case let .shell(line): arguments = ["/bin/sh", "-c", line]
        case .handler: return nil
        }
        let strings = arguments.map(\.utf8.count) + (spec.env ?? [:]).map { $0.key.utf8.count + 1 + $0.value.utf8.count }
        return strings.reduce(8 << 10) { $0 + $1 + 1 + MemoryLayout<UnsafeRawPointer>.size }
    }

    /// Why `text` cannot be handed to a process, if it cannot.
    static func execLengthProblem(_ text: String) -> String? {
        let bytes = text.utf8.count
        guard bytes > execStringLimit else { return nil }
        return "is \(bytes) bytes; Linux passes at most \(execStringLimit) in one argument or variable (put a longer script in a file)"
    }

    /// `ready_check`: a shell command line (a string) or an argv array, like `shell` and `command`.
    mutating func readyCheck(_ object: JSONValue) -> JobAction? {
        switch object["ready_check"] {
        case nil:
            return nil
        case let .string(s)?:
            if s.allSatisfy(\.isWhitespace) { report("ready_check", "must not be empty"); return nil }
            if s.utf8.contains(0) { report("ready_check", "contains a NUL character"); return nil }
            if let problem = Self.execLengthProblem(s) { report("ready_check", problem); return nil }
            return .shell(s)
        case let .array(items)?:
            var argv: [String] = []
            for (i, item) in items.enumerated() {
                guard case let .string(s) = item, !s.utf8.contains(0) else {
                    report("ready_check[\(i)]", "expected a string without NUL characters, got \(item.kindDescription)")
                    return nil
                }
                if let problem = Self.execLengthProblem(s) { report("ready_check[\(i)]", problem); return nil }
                argv.append(s)
            }
            if argv.first?.isEmpty ?? true { report("ready_check", "the program name is empty"); return nil }
            return .command(argv)
        case let other?:
            report("ready_check", "expected a shell command line (a string) or an argv array, got \(other.kindDescription)")
            return nil
        }
    }

    mutating func decodeAction(_ value: JSONValue) -> JobAction? {
        let present = ["command", "shell", "handler"].filter { value[$0] != nil }
        if present.isEmpty {
            report("", "needs one of \"command\" (an argv array), \"shell\" (a string) or \"handler\"")
            return nil
        }
        if present.count > 1 {
            report(present[1], "\(present.map { "\"\($0)\"" }.joined(separator: " and ")) exclude each other: give exactly one")
            return nil
        }
        if value["params"] != nil && present[0] != "handler" {
            report("params", "only allowed with \"handler\"")
        }
        switch present[0] {
        case "command":
            guard case let .array(items)? = value["command"] else {
                report("command", "expected an array of strings (argv), got \(value["command"]!.kindDescription); use \"shell\" for a shell command line")
                return nil
            }
            guard !items.isEmpty else {
                report("command", "must not be empty: the first element is the program")
                return nil
            }
            var argv: [String] = []
            for (i, item) in items.enumerated() {
                guard case let .string(s) = item else {
                    report("command[\(i)]", "expected a string, got \(item.kindDescription)")
                    return nil
                }
                if s.utf8.contains(0) { report("command[\(i)]", "contains a NUL character"); return nil }
                if let problem = Self.execLengthProblem(s) { report("command[\(i)]", problem); return nil }
                argv.append(s)
            }
            if argv[0].isEmpty { report("command[0]", "the program name is empty"); return nil }
            return .command(argv)
        case "shell":
            guard let s = string(value, "shell") else { return nil }
            if s.allSatisfy(\.isWhitespace) { report("shell", "must not be empty"); return nil }
            if let problem = Self.execLengthProblem(s) { report("shell", problem); return nil }
            return .shell(s)
        default:
            guard let h = string(value, "handler") else { return nil }
            guard Self.isValidPlainName(h) else { report("handler", "\"\(h)\" is not a valid handler name"); return nil }
            var params: JSONValue?
            if let p = value["params"] {
                if case .object = p { params = p } else { report("params", "expected an object, got \(p.kindDescription)") }
            }
            return .handler(h, params: params)
        }
    }

    /// The fields that `defaults` may also set.
    mutating func decodePolicies(from value: JSONValue, into spec: inout JobSpec) {
        if let tz = string(value, "timezone") {
            if TimeZone(identifier: tz) != nil && !tz.isEmpty {
                spec.timezone = tz
            } else {
                let hint = NearMiss.suggest(tz, among: TimeZone.knownTimeZoneIdentifiers).map { " (did you mean \"\($0)\"?)" } ?? ""
                report("timezone", "unknown time zone \"\(tz)\"\(hint); use an IANA name such as \"Europe/Berlin\"")
            }
        }
        spec.timeout = duration(value, "timeout", allowZero: false)
        spec.killGrace = duration(value, "kill_grace", allowZero: true)
        spec.retries = int(value, "retries", 0...100)
        spec.retryBackoff = duration(value, "retry_backoff", allowZero: true)
        spec.retryBackoffMax = duration(value, "retry_backoff_max", allowZero: true)
        if let b = spec.retryBackoff, let m = spec.retryBackoffMax, m < b {
            report("retry_backoff_max", "is shorter than retry_backoff (\(DurationText.format(milliseconds: b.milliseconds)))")
        }
        spec.maxConsecutiveFailures = int(value, "max_consecutive_failures", 0...1_000_000)
        spec.concurrency = enumeration(value, "concurrency", ConcurrencyPolicy.self)
        spec.catchUp = enumeration(value, "catch_up", CatchUpPolicy.self)
        spec.jitter = duration(value, "jitter", allowZero: true)
        for key in ["on_failure", "on_success"] {
            guard let target = string(value, key) else { continue }
            if Self.isValidName(target) {
                if key == "on_failure" { spec.onFailure = target } else { spec.onSuccess = target }
            } else {
                report(key, "\"\(target)\" is not a valid job name")
            }
        }
        if let envValue = value["env"] {
            if case let .object(members) = envValue {
                var env: [String: String] = [:]
                for (k, v) in members {
                    guard case let .string(s) = v else {
                        report("env.\(k)", "expected a string, got \(v.kindDescription)")
                        continue
                    }
                    if k.isEmpty || k.utf8.contains(UInt8(ascii: "=")) || k.utf8.contains(0) {
                        report("env.\(k)", "not a valid variable name")
                    } else if Self.reservedEnvironment.contains(k) {
                        report("env.\(k)", "is set by schedd for each run and cannot be overridden")
                    } else if s.utf8.contains(0) {
                        report("env.\(k)", "contains a NUL character")
                    } else if let problem = Self.execLengthProblem(k + "=" + s) {
                        report("env.\(k)", problem)
                    } else {
                        env[k] = s
                    }
                }
                spec.env = env
            } else {
                report("env", "expected an object of strings, got \(envValue.kindDescription)")
            }
        }
        if let dir = string(value, "working_dir") {
            if dir.hasPrefix("/") { spec.workingDir = dir } else { report("working_dir", "\"\(dir)\" must be an absolute path") }
        }
        let owner = JobOwner.owner(of: spec.name)
        for key in ["user", "group"] {
            guard let account = string(value, key) else { continue }
            if let owner, key == "user", account != owner {
                report(key, "the job belongs to \(owner) and runs as \(owner), not as \"\(account)\"")
            } else if let owner, key == "group", context.checkAccounts, !context.isMember(user: owner, of: account) {
                report(key, "the job belongs to \(owner), who is not a member of the group \"\(account)\"")
            } else if !context.runningAsRoot {
                report(key, "running a job as another \(key) needs schedd to run as root")
            } else if context.checkAccounts && !(key == "user" ? context.userExists(account) : context.groupExists(account)) {
                report(key, "no such \(key) \"\(account)\" on this system")
            } else if key == "user" {
                spec.user = account
            } else {
                spec.group = account
            }
        }
        if let owner {
            if !context.runningAsRoot {
                report("name", "a job of the user \(owner) runs as \(owner), which needs schedd to run as root")
            } else if context.checkAccounts && !context.userExists(owner) {
                report("name", "no user named \"\(owner)\" on this system to own the job")
            } else if spec.user == nil {
                spec.user = owner
            }
        }
        spec.restartDelay = duration(value, "restart_delay", allowZero: true)
        spec.restartDelayMax = duration(value, "restart_delay_max", allowZero: true)
        if let delay = spec.restartDelay, let cap = spec.restartDelayMax, cap < delay {
            report("restart_delay_max", "is shorter than restart_delay (\(DurationText.format(milliseconds: delay.milliseconds)))")
        }
        spec.restartResetAfter = duration(value, "restart_reset_after", allowZero: false)
        spec.requiresWait = duration(value, "requires_wait", allowZero: true)
        spec.readyAfter = duration(value, "ready_after", allowZero: true)
        spec.readyInterval = duration(value, "ready_interval", allowZero: false)
        spec.readyTimeout = duration(value, "ready_timeout", allowZero: false)
        if let limit = value["restart_limit"] {
            if case .string("none") = limit {
                spec.restartLimit = RestartLimit.none
            } else if case let .object(members) = limit {
                for (k, _) in members where k != "burst" && k != "interval" {
                    report("restart_limit.\(k)", unknownFieldMessage(k, among: ["burst", "interval"]))
                }
                let burst = int(limit, "burst", 1...10_000, path: "restart_limit.burst")
                let interval = duration(limit, "interval", allowZero: false, path: "restart_limit.interval")
                if burst == nil && limit["burst"] == nil { report("restart_limit.burst", "required") }
                if interval == nil && limit["interval"] == nil { report("restart_limit.interval", "required") }
                if let burst, let interval { spec.restartLimit = RestartLimit(burst: burst, interval: interval) }
            } else {
                report("restart_limit", "expected \"none\" or an object like {\"burst\": 5, \"interval\": \"60s\"}, got \(limit.kindDescription)")
            }
        }
        if let raw = value["output_limit"] {
            var bytes: Int64?
            switch raw {
            case let .string(s): bytes = ByteSize.bytes(s)
            case let .number(n): bytes = Int64(n)
            default: break
            }
            if let bytes {
                if bytes < 0 {
                    report("output_limit", "must not be negative (0 keeps no output)")
                } else if bytes > Self.maxOutputLimit {
                    report("output_limit", "\(ByteSize.format(bytes: bytes)) is over the maximum of \(ByteSize.format(bytes: Self.maxOutputLimit))")
                } else {
                    spec.outputLimit = bytes
                }
            } else {
                report("output_limit", "\(raw.serialized()) is not a size (use e.g. \"64KiB\", \"1MiB\" or a number of bytes)")
            }
        }
    }

    // MARK: - Field readers

    /// Why a service may not set one of `scheduledOnlyKeys`, and what it has instead.
    static func serviceIgnores(_ key: String) -> String {
        switch key {
        case "concurrency":
            return "a service runs as one process (`schedctl restart` replaces it); concurrency applies to scheduled and triggered jobs"
        case "catch_up", "jitter":
            return "a service is started with the daemon and has no schedule; \(key) applies to scheduled jobs"
        default:
            return "a service is restarted by its restart rule (restart_delay, restart_limit); \(key) applies to scheduled and triggered jobs"
        }
    }

    mutating func string(_ object: JSONValue, _ key: String) -> String? {
        guard let value = object[key] else { return nil }
        guard case let .string(s) = value else {
            report(key, "expected a string, got \(value.kindDescription)")
            return nil
        }
        // The C calls a string ends up in (chdir, getpwnam, the zone database…) would stop
        // at the NUL and act on its first part: "/tmp\u0000x" would run in /tmp.
        if s.utf8.contains(0) {
            report(key, "contains a NUL character")
            return nil
        }
        return s
    }

    mutating func bool(_ object: JSONValue, _ key: String) -> Bool? {
        guard let value = object[key] else { return nil }
        guard case let .bool(b) = value else {
            report(key, "expected true or false, got \(value.kindDescription)")
            return nil
        }
        return b
    }

    mutating func int(_ object: JSONValue, _ key: String, _ range: ClosedRange<Int>, path: String? = nil) -> Int? {
        guard let value = object[key] else { return nil }
        let path = path ?? key
        guard case let .number(text) = value else {
            report(path, "expected a whole number, got \(value.kindDescription)")
            return nil
        }
        guard let n = Int(text) ?? Double(text).flatMap({ $0 == $0.rounded() && abs($0) < 1e15 ? Int($0) : nil }) else {
            report(path, "\(text) is not a whole number")
            return nil
        }
        guard range.contains(n) else {
            report(path, "\(n) is out of range \(range.lowerBound)-\(range.upperBound)")
            return nil
        }
        return n
    }

    mutating func duration(_ object: JSONValue, _ key: String, allowZero: Bool, path: String? = nil) -> Duration? {
        guard let value = object[key] else { return nil }
        let path = path ?? key
        guard case let .string(text) = value else {
            var hint = ""
            if case let .number(n) = value { hint = " (try \"\(n)s\")" }
            report(path, "expected a duration string like \"90s\", \"5m\" or \"1h30m\", got \(value.kindDescription)\(hint)")
            return nil
        }
        guard let ms = DurationText.milliseconds(text) else {
            if DurationText.isTooLong(text) {
                report(path, "\"\(text)\" is \(DurationText.tooLongProblem)")
            } else if let suggestion = DurationText.suggestion(for: text) {
                report(path, "\"\(text)\" is not a duration (try \"\(suggestion)\")")
            } else {
                report(path, "\"\(text)\" is not a duration (use e.g. \"500ms\", \"90s\", \"5m\", \"1h30m\", \"2d\")")
            }
            return nil
        }
        if ms == 0 && !allowZero {
            report(path, "must be longer than 0s")
            return nil
        }
        return .milliseconds(ms)
    }

    mutating func enumeration<E: RawRepresentable & CaseIterable>(_ object: JSONValue, _ key: String, _: E.Type) -> E? where E.RawValue == String {
        guard let raw = string(object, key) else { return nil }
        if let e = E(rawValue: raw) { return e }
        report(key, enumMessage(raw, E.allCases.map(\.rawValue)))
        return nil
    }

    func enumMessage(_ raw: String, _ allowed: [String]) -> String {
        let hint = NearMiss.suggest(raw, among: allowed).map { " (did you mean \"\($0)\"?)" } ?? ""
        return "\"\(raw)\" is not one of \(allowed.map { "\"\($0)\"" }.joined(separator: ", "))\(hint)"
    }

    func unknownFieldMessage(_ key: String, among known: [String]) -> String {
        if let near = NearMiss.suggest(key, among: known) {
            return "unknown field (did you mean \"\(near)\"?)"
        }
        return "unknown field"
    }
}
