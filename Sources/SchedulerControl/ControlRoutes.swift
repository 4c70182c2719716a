import Scheduler
import Foundation
import Hummingbird
import Logging
import NIOCore
import SchedulerAPI
import ServiceLifecycle
import Synchronization

/// The routes of `/v1`. Each maps a `schedctl` verb onto the engine or the database.
struct ControlRoutes {
    let engine: JobScheduler
    let startedAt: Date
    let jobFile: JobFileReloads?
    var configPath: String? { jobFile?.path }
    let access: AccessPolicy
    let metrics: DaemonMetrics?
    let nodes: (@Sendable () async throws -> [NodeInfo])?
    let logger: Logger
    /// The encoded job list and the job counts of `status`, kept until the database changes.
    let jobList = VersionedCache<ByteBuffer>()
    let jobCounts = VersionedCache<StatusResponse.Jobs>()

    /// Reads only: every change goes through the engine, the store's one writer.
    var store: any StoreReader { engine.reader }

    /// Every route, as (method, path): `docs/openapi.yaml` must list exactly these.
    static let table: [(HTTPRequest.Method, String)] = [
        (.get, "/v1/status"), (.get, "/v1/jobs"), (.post, "/v1/jobs"), (.get, "/v1/jobs/{name}"),
        (.put, "/v1/jobs/{name}"), (.delete, "/v1/jobs/{name}"), (.post, "/v1/jobs/{name}/run"),
        (.post, "/v1/jobs/{name}/cancel"), (.post, "/v1/jobs/{name}/pause"), (.post, "/v1/jobs/{name}/resume"),
        (.post, "/v1/jobs/{name}/start"), (.post, "/v1/jobs/{name}/stop"), (.post, "/v1/jobs/{name}/restart"),
        (.get, "/v1/export"), (.get, "/v1/runs"), (.get, "/v1/runs/{id}"), (.post, "/v1/runs/{id}/cancel"),
        (.post, "/v1/reload"), (.get, "/v1/events"), (.get, "/v1/metrics"), (.get, "/v1/nodes"), (.get, "/"),
    ]

    /// The query parameters each route of `table` takes, by "METHOD path"; a route not here
    /// takes none. Any other parameter, or one given twice, is refused with 400: a misspelt
    /// filter (`?stauts=failed`) would otherwise answer with everything. `docs/openapi.yaml`
    /// documents exactly these (`OpenAPITests`). The dashboard's page (`/`) is not checked:
    /// links and browsers add what they like to a page's address.
    static let queryParameters: [String: [String]] = [
        "POST /v1/jobs": ["prune", "dry_run"],
        "POST /v1/jobs/{name}/run": ["force"],
        "GET /v1/export": ["origin"],
        "GET /v1/runs": ["job", "status", "since", "limit", "before"],
        "GET /v1/events": ["job", "run", "output"],
        "POST /v1/reload": ["dry_run"],
    ]

    /// Refuses a parameter the route does not take, naming it (and the nearest it takes), and
    /// one given twice.
    static func checkQuery(_ query: Parameters, accepted: [String]) throws(APIError) {
        var seen: Set<Substring> = []
        for (name, _) in query {
            guard accepted.contains(String(name)) else {
                let hint = NearMiss.suggest(String(name), among: accepted).map { " (did you mean \"\($0)\"?)" } ?? ""
                let takes = accepted.isEmpty ? "this endpoint takes none" : "this endpoint takes \(accepted.joined(separator: ", "))"
                throw APIError(.invalidArgument, "unknown query parameter \"\(name)\"\(hint): \(takes)")
            }
            guard seen.insert(name).inserted else {
                throw APIError(.invalidArgument, "query parameter \"\(name)\" is given more than once")
            }
        }
    }

    /// The methods `table` has for a request path (`{name}` stands for any one segment).
    static func methods(at path: String) -> [HTTPRequest.Method] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        let methods = table.compactMap { method, pattern -> HTTPRequest.Method? in
            let parts = pattern.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == segments.count else { return nil }
            let matches = zip(parts, segments).allSatisfy { part, segment in
                part.hasPrefix("{") ? !segment.isEmpty : part == segment
            }
            return matches ? method : nil
        }
        // The router answers HEAD wherever GET is.
        return methods.flatMap { $0 == .get ? [.get, .head] : [$0] }
    }

    func register(on router: Router<ControlContext>) {
        // Every route through `on`, in `table`'s form: the 405 answers and the OpenAPI test read
        // `table`, so it must be what is served (checked below in debug builds, which the tests run).
        var registered: [(HTTPRequest.Method, String)] = []
        func on(_ method: HTTPRequest.Method, _ path: String,
                _ handler: @escaping @Sendable (Request, ControlContext) async throws -> Response) {
            registered.append((method, path))
            let hummingbirdPath = path.replacingOccurrences(of: "{", with: ":").replacingOccurrences(of: "}", with: "")
            guard path != "/" else {
                router.on(RouterPath(hummingbirdPath), method: method, use: handler)
                return
            }
            let accepted = Self.queryParameters["\(method.rawValue) \(path)"] ?? []
            router.on(RouterPath(hummingbirdPath), method: method) { request, context in
                try Self.checkQuery(request.uri.queryParameters, accepted: accepted)
                return try await handler(request, context)
            }
        }
        on(.get, "/v1/status") { _, context in try await status(context) }
        on(.get, "/v1/jobs") { _, context in try await list(context) }
        on(.post, "/v1/jobs") { request, context in try await apply(request, context) }
        on(.get, "/v1/jobs/{name}") { _, context in try await show(try Self.jobName(context), context) }
        on(.put, "/v1/jobs/{name}") { request, context in try await put(request, context) }
        on(.delete, "/v1/jobs/{name}") { _, context in
            let name = try Self.jobName(context)
            let goingOn = try await engine.removeJob(named: name, protectedFile: configPath)
            audit("job removed over the API", await Self.caller(context), ["schedd.job": "\(name)"])
            return try Self.reply(RemovedJob(removed: name, goingOn: goingOn), context)
        }
        on(.post, "/v1/jobs/{name}/run") { request, context in
            let force = try Self.flag("force", request.uri.queryParameters)
            let name = try Self.jobName(context)
            let caller = await Self.caller(context)
            let (started, run) = try await engine.start(name, force: force, by: caller.description)
            audit(started ? "run started over the API" : "run over the API skipped", caller, [
                "schedd.job": "\(name)", "schedd.run_id": .stringConvertible(run.id),
            ])
            // A run queued for the node its job is pinned to (cluster mode): accepted, not started.
            if run.status == .queued { return try Self.reply(TriggerResponse(outcome: "queued", run: run), context, status: .accepted) }
            return try Self.reply(TriggerResponse(outcome: started ? "started" : "skipped", run: run), context, status: started ? .created : .ok)
        }
        on(.post, "/v1/jobs/{name}/cancel") { _, context in
            let name = try Self.jobName(context)
            let caller = await Self.caller(context)
            let cancelled = try await engine.cancel(job: name, by: caller.description)
            audit("runs cancelled over the API", caller, [
                "schedd.job": "\(name)", "schedd.runs": "\(cancelled.runs)", "schedd.retries": "\(cancelled.retries)", "schedd.waiting": "\(cancelled.waiting)",
            ])
            return try Self.reply(CancelResponse(cancelled: cancelled.runs, retriesSkipped: cancelled.retries, waitingSkipped: cancelled.waiting,
                                                 starting: cancelled.starting > 0 ? cancelled.starting : nil), context)
        }
        on(.post, "/v1/jobs/{name}/pause") { _, context in
            let name = try Self.jobName(context)
            let caller = await Self.caller(context)
            try await engine.pauseJob(name, by: caller.description)
            audit("job paused over the API", caller, ["schedd.job": "\(name)"])
            return try await show(name, context)
        }
        on(.post, "/v1/jobs/{name}/resume") { _, context in
            let name = try Self.jobName(context)
            let caller = await Self.caller(context)
            try await engine.resume(name, by: caller.description)
            audit("job resumed over the API", caller, ["schedd.job": "\(name)"])
            return try await show(name, context)
        }
        for (action, done) in [(ServiceCommand.Action.start, "started"), (.stop, "stopped"), (.restart, "restarted")] {
            on(.post, "/v1/jobs/{name}/\(action.rawValue)") { _, context in
                let name = try Self.jobName(context)
                let caller = await Self.caller(context)
                let elsewhere = try await engine.serviceCommand(name, action, by: caller.description)
                audit("service \(done) over the API", caller, ["schedd.job": "\(name)"])
                return try await show(name, context, serviceState: elsewhere)
            }
        }
        on(.get, "/v1/export") { request, context in
            var infos = try await store.jobs()
            if let origin = request.uri.queryParameters.get("origin") {
                guard let kind = JobOrigin.Kind(rawValue: String(origin)) else {
                    throw APIError(.invalidArgument, "origin \"\(origin)\" is not one of file, api")
                }
                infos.removeAll { $0.origin.kind != kind }
            }
            if let scope = Self.scope(context) { infos.removeAll { !scope.owns($0.name) } }
            // A stand-in is not the job: it would be exported as a disabled `false`.
            infos.removeAll { $0.problem != nil }
            var file = JobFile(jobs: infos.map(\.spec)).json
            if let scope = Self.scope(context) { file = scope.shown(file) }
            return Self.text(file.serialized(pretty: true) + "\n", contentType: "application/json")
        }
        on(.get, "/v1/runs") { request, context in try await history(request, context) }
        on(.get, "/v1/runs/{id}") { _, context in
            let id = try Self.runID(context)
            var run = try await ownRun(id, context)
            // A running run's output is in memory until it ends: show what it has printed so far.
            if !run.status.isFinal, let tail = await engine.liveOutput(runID: id) {
                (run.output, run.outputStreams) = tail.textWithStreams
                run.outputTruncated = tail.truncated
            }
            return try Self.reply(run, context)
        }
        on(.post, "/v1/runs/{id}/cancel") { _, context in
            let id = try Self.runID(context)
            if Self.scope(context) != nil { _ = try await ownRun(id, context) }
            let caller = await Self.caller(context)
            let cancelled: CancelledRuns
            do {
                cancelled = try await engine.cancel(runID: id, by: caller.description)
            } catch let error as APIError where error.code == .notFound {
                // Say what became of it, when it is known: "not active" alone reads as a typo.
                let run = try await ownRun(id, context)
                guard run.status.isFinal else { throw error }
                throw APIError(.notFound, "run \(id) is not active: it ended (\(run.status.rawValue)) and has no retry waiting")
            }
            audit("run cancelled over the API", caller, ["schedd.run_id": .stringConvertible(id), "schedd.retries": "\(cancelled.retries)"])
            return try Self.reply(CancelResponse(cancelled: cancelled.runs, retriesSkipped: cancelled.retries), context)
        }
        on(.get, "/v1/events") { request, context in try await events(request, context) }
        // The dashboard (`schedctl dashboard`): the page reads this API with the caller's rights.
        on(.get, "/") { _, context in
            // With the caller's job list in it: the page draws it without asking again.
            let list = try await listBody(context)
            return Self.text(DashboardPage.page(initialJobs: String(buffer: list)), contentType: "text/html; charset=utf-8")
        }
        on(.get, "/v1/nodes") { _, context in
            guard let nodes else {
                throw APIError(.notFound, "this schedd is not part of a cluster: it keeps its jobs in SQLite (cluster mode is schedd --postgres)")
            }
            return try Self.reply(try await nodes(), context)
        }
        on(.get, "/v1/metrics") { _, context in
            // Admins only: the labels name every job.
            try Self.adminOnly(context, "read the metrics")
            guard let metrics else { throw APIError(.notFound, "this schedd exports no metrics") }
            return Self.text(try await metrics.render(engine: engine), contentType: "text/plain; version=0.0.4; charset=utf-8")
        }
        on(.post, "/v1/reload") { request, context in
            try Self.adminOnly(context, "reload the job file")
            let dryRun = try Self.flag("dry_run", request.uri.queryParameters)
            guard let jobFile else { throw APIError(.conflict, "schedd was started without --config: there is no file to reload") }
            let result: ApplyResult
            do {
                result = try await engine.apply(JobFileLoader(path: jobFile.path, handlers: engine.handlerNames), prune: true, dryRun: dryRun)
            } catch {
                // Told in `status` too, as a SIGHUP's: the jobs run as loaded before.
                if !dryRun && JobFileReloads.isRefusal(error) { jobFile.refused((error as? APIError)?.description ?? "\(error)") }
                throw error
            }
            if !dryRun {
                jobFile.succeeded()
                audit("job file reloaded over the API", await Self.caller(context), result.logMetadata.merging(["schedd.file": "\(jobFile.path)"]) { a, _ in a })
            }
            return try Self.json(result)
        }
        assert(Set(registered.map { "\($0.0.rawValue) \($0.1)" }) == Set(Self.table.map { "\($0.0.rawValue) \($0.1)" })
               && registered.count == Self.table.count, "ControlRoutes.table differs from the routes registered")
        assert(Set(Self.queryParameters.keys).isSubset(of: Set(Self.table.map { "\($0.0.rawValue) \($0.1)" })),
               "ControlRoutes.queryParameters names a route that is not in the table")
    }

    // MARK: - Roles

    /// The scope of a user's request; nil for an admin's, which sees every job by its name.
    static func scope(_ context: ControlContext) -> UserScope? {
        if case let .user(name) = context.role { return UserScope(owner: name) }
        return nil
    }

    /// The job a request's path names, as stored: a user's `backup` is their `OWNER/backup`.
    static func jobName(_ context: ControlContext) throws -> String {
        let name = try pathName(context)
        return scope(context).map { $0.stored(name) } ?? name
    }

    /// The name in the path as the caller wrote it. The router matches the raw path: an
    /// admin's `alice/backup` comes as `alice%2Fbackup`.
    static func pathName(_ context: ControlContext) throws -> String {
        let raw = try context.parameters.require("name")
        return raw.removingPercentEncoding ?? raw
    }

    static func adminOnly(_ context: ControlContext, _ what: String) throws {
        guard context.role == .admin else { throw APIError(.forbidden, "only an admin may \(what)") }
    }

    /// A run by id, if the caller may see it: a user's request for someone else's run is
    /// answered as for a run that does not exist.
    func ownRun(_ id: Int64, _ context: ControlContext) async throws -> RunRecord {
        guard let run = try await store.run(id: id), Self.scope(context).map({ $0.owns(run.job) }) ?? true else {
            throw APIError(.notFound, "no run \(id)")
        }
        return run
    }

    /// An answer, with a user's job names as they know them.
    static func reply(_ value: some Encodable, _ context: ControlContext, status: HTTPResponse.Status = .ok) throws -> Response {
        guard let scope = scope(context) else { return try json(value, status: status) }
        return scoped(try encoded(value), scope, status: status)
    }

    static func scoped(_ body: ByteBuffer, _ scope: UserScope, status: HTTPResponse.Status = .ok) -> Response {
        do {
            return response(try shown(body, scope), status: status, contentType: "application/json")
        } catch {
            return ControlMiddleware.error(.internalServerError, error)
        }
    }

    /// Encoded JSON with a user's job names as they know them; never the unscoped text, which
    /// names the jobs as stored.
    static func shown(_ body: ByteBuffer, _ scope: UserScope) throws(APIError) -> ByteBuffer {
        guard let value = try? JSONParser.parse(body.readableBytesView) else {
            throw APIError(.internal, "the reply could not be read back")
        }
        return ByteBuffer(string: scope.shown(value).serialized() + "\n")
    }

    // MARK: - Callers

    /// Who is calling: the owner of the jobs they change, and who the daemon's log names.
    struct Caller {
        var description: String
        var metadata: Logger.Metadata
    }

    static func caller(_ context: ControlContext) async -> Caller {
        guard let peer = await PeerCredentials.of(context.channel) else { return Caller(description: "unknown caller", metadata: [:]) }
        let name = await PeerAccounts.shared.account(uid: peer.uid).name
        return Caller(description: "uid \(peer.uid)" + (name.map { " (\($0))" } ?? ""), metadata: [
            "schedd.caller_uid": .stringConvertible(peer.uid), "schedd.caller_pid": .stringConvertible(peer.pid),
            "schedd.caller": "\(name ?? String(peer.uid))",
        ])
    }

    /// One log line per change made over the socket, with who made it.
    func audit(_ message: Logger.Message, _ caller: Caller, _ metadata: Logger.Metadata) {
        logger.notice(message, metadata: metadata.merging(caller.metadata) { a, _ in a })
    }

    // MARK: - Handlers

    func status(_ context: ControlContext) async throws -> Response {
        let scope = Self.scope(context)
        var counts: StatusResponse.Jobs
        let load = await engine.load()
        if let scope {
            // A user's health check is about their own jobs.
            counts = StatusResponse.Jobs(counting: try await store.jobs().filter { scope.owns($0.name) })
        } else {
            counts = try await jobCounts.value(version: store.changes.current) { [store] in
                try await store.jobStateCounts()
            }
            // Counted by SQL from the stored flags, which cannot tell that a definition no
            // longer validates; the engine, which left such jobs out, can.
            let invalid = load.invalidJobs.filter { name, _ in !counts.problems.contains { $0.job == name } }
            counts.problems += invalid.map { StatusResponse.Problem(job: $0.key, state: "invalid", reason: $0.value) }
        }
        // Known to the engine only, like an invalid definition; one problem per job.
        let broken = Dictionary(grouping: load.brokenReferences.filter { scope?.owns($0.job) ?? true }, by: \.job)
        counts.problems += broken.map { job, references in
            StatusResponse.Problem(job: job, state: "broken_reference", reason: references.map(\.message).joined(separator: "; "))
        }
        counts.problems.sort { $0.job < $1.job }
        let queuedJobs = scope.map { scope in load.queuedJobs.filter { scope.owns($0) } } ?? load.queuedJobs
        return try Self.reply(StatusResponse(
            version: Version.current, pid: getpid(), startedAt: startedAt, database: store.location,
            workersBusy: load.busy, workersTotal: load.workers, queued: load.queued, queuedJobs: queuedJobs, held: load.held > 0 && scope == nil ? load.held : nil,
            servicesRunning: load.services, jobs: counts, processTracking: Self.processTracking(engine.processTracking, entry: engine.cgroupEntry),
            databaseProblem: load.storeTrouble, timeZone: load.timeZone, shuttingDown: load.shuttingDown,
            // The daemon's file is its admins' business; a user's health check is about their jobs.
            configFile: scope == nil ? jobFile?.status : nil), context)
    }

    static func processTracking(_ tracking: ProcessSweeper.Tracking, entry: CgroupEntry) -> StatusResponse.ProcessTracking {
        switch tracking {
        case let .cgroup(base): StatusResponse.ProcessTracking(mode: "cgroup", detail: base, entry: entry.description)
        case let .procScan(reason): StatusResponse.ProcessTracking(mode: "proc", detail: reason)
        }
    }

    func summaries(_ stored: [JobInfo]) async throws -> [JobSummary] {
        let infos = await engine.withUnwrittenStates(stored)
        let lastRuns = try await store.runs(ids: infos.compactMap(\.state.lastRunID))
        let waiting = await engine.waitingRuns()
        let held = await engine.heldRuns()
        let services = infos.contains { $0.spec.isService } ? await engine.serviceStates() : [:]
        // A trigger skipped while a run is going on (`concurrency: forbid`, a `schedctl run` of
        // a running service) is the newest row, but the run going on is what the job is doing.
        let skippedLast = infos.contains { $0.state.lastRunID.flatMap { lastRuns[$0] }?.status == .skipped }
        let going = skippedLast ? Dictionary(await engine.activeRuns().map { ($0.job, $0) }, uniquingKeysWith: { $0.id > $1.id ? $0 : $1 }) : [:]
        return infos.map { info in
            let service = info.problem == nil ? services[info.name] : nil
            var last = info.state.lastRunID.flatMap { lastRuns[$0] }
            if last?.status == .skipped, let run = going[info.name] { last = run }
            // Pinned to a node that is not this one, with no cluster: it never runs (a job file
            // shared by several hosts), which "active" and a next run would hide.
            let elsewhere = info.problem == nil && JobSummary.state(of: info) == "active"
                ? engine.pinnedWhereNothingRuns(info.spec).map { "runs only on node \($0) (its \"node\"); this schedd is node \(engine.nodeName), with no cluster" }
                : nil
            return JobSummary(name: info.name,
                       state: elsewhere != nil ? "elsewhere" : service?.state ?? (info.problem == nil ? JobSummary.state(of: info) : "invalid"),
                       pauseReason: info.problem ?? info.state.pauseReason,
                       schedule: info.spec.schedule, service: info.spec.isService,
                       // A job that cannot fire has no next run, whatever its schedule says.
                       nextRunAt: info.state.paused || !info.spec.isEnabled || elsewhere != nil ? nil : info.state.nextRunAt,
                       lastRun: last, origin: info.origin, queued: waiting[info.name],
                       reason: elsewhere ?? service?.reason ?? (info.state.paused ? info.state.pauseReason : info.problem),
                       waitsFor: held[info.name])
        }
    }

    func list(_ context: ControlContext) async throws -> Response {
        Self.response(try await listBody(context), contentType: "application/json")
    }

    /// The job list as the caller may see it, encoded.
    func listBody(_ context: ControlContext) async throws -> ByteBuffer {
        if let scope = Self.scope(context) {
            let own = try await store.jobs().filter { scope.owns($0.name) }
            return try Self.shown(try Self.encoded(try await summaries(own)), scope)
        }
        return try await jobList.value(version: store.changes.current) { [self] in
            try Self.encoded(try await summaries(try await store.jobs()))
        }
    }

    /// A job's detail; `serviceState`: a service's state as the node that runs it answered a
    /// command (cluster mode), in place of this node's view of it.
    func show(_ name: String, _ context: ControlContext, serviceState: (state: String, reason: String?)? = nil) async throws -> Response {
        guard let stored = try await store.job(named: name) else { throw APIError(.notFound, "no job named \"\(name)\"") }
        let info = await engine.withUnwrittenStates([stored])[0]
        let summary = try await summaries([info])[0]
        let runs = try await store.history(HistoryQuery(job: name, limit: 10), withOutput: false)
        var service = info.spec.isService ? await engine.serviceStatus(name) : nil
        if let serviceState {
            service?.state = serviceState.state
            service?.reason = serviceState.reason
        }
        let retry = try await engine.pendingRetryInCluster(name)
        return try Self.reply(JobDetail(summary: summary, job: info, recentRuns: runs, service: service, retry: retry,
                                        brokenReferences: await engine.brokenReferences(of: name)), context)
    }

    func apply(_ request: Request, _ context: ControlContext) async throws -> Response {
        let body = try await request.body.collect(upTo: context.maxUploadSize)
        let query = request.uri.queryParameters
        let prune = try Self.flag("prune", query)
        let dryRun = try Self.flag("dry_run", query)
        let caller = await Self.caller(context)
        var data = Array(buffer: body)
        if let scope = Self.scope(context) {
            let file = scope.storedFile(try Self.parseJobFile(data))
            try await checkJobLimit(scope, file, prune: prune)
            data = Array(file.serialized().utf8)
        }
        let result = try await engine.apply(data: data, prune: prune, dryRun: dryRun,
                                            origin: .api(caller.description, owner: Self.scope(context)?.owner), protectedFile: configPath)
        if !dryRun { audit("jobs applied over the API", caller, result.logMetadata) }
        return try Self.reply(result, context)
    }

    static func parseJobFile(_ data: [UInt8]) throws -> JSONValue {
        do {
            return try JSONParser.parse(data)
        } catch {
            throw APIError(.invalidJobFile, "the job file is not valid JSON", issues: [ValidationIssue(path: "", message: error.description)])
        }
    }

    /// Refuses a user's change that would leave them more jobs than `--user-max-jobs`.
    func checkJobLimit(_ scope: UserScope, _ file: JSONValue, prune: Bool) async throws {
        var named = Set<String>()
        if case let .array(jobs)? = file["jobs"] {
            for job in jobs { if case let .string(name)? = job["name"] { named.insert(name) } }
        }
        let own = try await store.jobs().filter { scope.owns($0.name) }
        // A prune takes out the user's API jobs the file does not name; the file's stay.
        let kept = own.filter { !prune || $0.origin.kind == .file }.map(\.name)
        let after = named.union(kept).count
        if after > access.userMaxJobs && after > own.count {
            throw APIError(.forbidden, "this change would leave you \(after) jobs; a user may have at most \(access.userMaxJobs) (schedd's --user-max-jobs)")
        }
    }

    func put(_ request: Request, _ context: ControlContext) async throws -> Response {
        // As the caller wrote it: a user's short name, an admin's full one.
        let name = try Self.pathName(context)
        let body = try await request.body.collect(upTo: context.maxUploadSize)
        var job: JSONValue
        do {
            job = try JSONParser.parse(Array(buffer: body))
        } catch {
            throw APIError(.invalidJobFile, "the job is not valid JSON", issues: [ValidationIssue(path: "", message: error.description)])
        }
        guard case let .object(fields) = job else {
            throw APIError(.invalidArgument, "the body must be one job, a JSON object, not \(job.kindDescription)")
        }
        // The path names the job: the body may leave its name out.
        if job["name"] == nil { job = .object([("name", .string(name))] + fields) }
        guard job["name"] == .string(name) else {
            throw APIError(.invalidArgument, "the job's \"name\" must be \"\(name)\", as in the path")
        }
        var file = JSONValue.object([("jobs", .array([job]))])
        let scope = Self.scope(context)
        if let scope {
            file = scope.storedFile(file)
            try await checkJobLimit(scope, file, prune: false)
        }
        let caller = await Self.caller(context)
        let result = try await engine.apply(data: Array(file.serialized().utf8), prune: false, dryRun: false,
                                            origin: .api(caller.description, owner: scope?.owner), protectedFile: configPath)
        audit("job put over the API", caller, result.logMetadata.merging(["schedd.job": "\(name)"]) { a, _ in a })
        return try Self.reply(result, context)
    }

    func history(_ request: Request, _ context: ControlContext) async throws -> Response {
        let q = request.uri.queryParameters
        var query = HistoryQuery()
        let scope = Self.scope(context)
        query.job = q.get("job").map { scope?.stored($0) ?? $0 }
        query.owner = scope?.owner
        if let status = q.get("status") {
            guard let parsed = RunStatus(rawValue: status) else {
                throw APIError(.invalidArgument, "status \"\(status)\" is not one of \(RunStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            query.status = parsed
        }
        if let since = q.get("since") {
            if let ms = DurationText.milliseconds(since) {
                query.since = Date().addingTimeInterval(-Double(ms) / 1000)
            } else if let date = Timestamp.parse(since) {
                query.since = date
            } else {
                throw APIError(.invalidArgument, "since \"\(since)\" is neither a duration (24h) nor an ISO-8601 time")
            }
        }
        if let limit = q.get("limit") {
            guard let n = Int(limit), (1...10_000).contains(n) else { throw APIError(.invalidArgument, "limit must be 1-10000") }
            query.limit = n
        }
        if let before = q.get("before") {
            guard let id = Int64(before), id > 0 else { throw APIError(.invalidArgument, "before \"\(before)\" is not a run id") }
            query.beforeID = id
        }
        let runs = try await store.history(query, withOutput: false)
        if runs.isEmpty, let job = query.job, query.beforeID == nil { try await requireKnown(job: job) }
        return try Self.reply(RunPage(runs: runs, nextCursor: runs.count == query.limit ? runs.last?.id : nil), context)
    }

    /// A name that names no job and no runs of one is a mistake (a typo), answered 404; the
    /// history of a removed job stays readable.
    func requireKnown(job: String) async throws {
        if try await store.job(named: job) == nil, try await store.history(HistoryQuery(job: job, limit: 1), withOutput: false).isEmpty {
            throw APIError(.notFound, "no job named \"\(job)\" and no runs of one")
        }
    }

    /// Server-Sent Events: one `data:` line of JSON per engine event, optionally for one job or
    /// one run (with its output as it is printed), until the client goes away, the run ends, or
    /// schedd shuts down.
    func events(_ request: Request, _ context: ControlContext) async throws -> Response {
        let query = request.uri.queryParameters
        let scope = Self.scope(context)
        let job = query.get("job").map { scope?.stored(String($0)) ?? String($0) }
        let withOutput = try Self.flag("output", query)
        // A typo would otherwise wait for ever for events that never come.
        if let job { try await requireKnown(job: job) }
        var known: RunRecord?
        if let text = query.get("run") {
            guard let id = Int64(text) else { throw APIError(.invalidArgument, "run \"\(text)\" is not a run id") }
            known = try await ownRun(id, context)
        }
        let runID = known?.id
        // Subscribed before the run is looked at again, so that nothing it does in between is
        // missed; what arrives twice is cut by its offset below.
        let subscription = engine.events.subscription(bufferSize: withOutput ? 256 : 1024, output: withOutput)
        var opening: [EventMessage] = []
        var sentUpTo: Int64 = 0
        var ended = false
        // A run of another node of a cluster: its events come from its row instead.
        var remote: (events: RemoteRunEvents, stream: AsyncStream<SchedulerEvent>, continuation: AsyncStream<SchedulerEvent>.Continuation)?
        if let known {
            if let tail = await engine.liveOutput(runID: known.id) {
                sentUpTo = tail.totalBytes
                if withOutput {
                    // The kept tail, one message per part of one stream.
                    var offset = tail.totalBytes - Int64(tail.keptCount)
                    for part in tail.parts {
                        opening.append(Self.message(.runOutput(job: known.job, runID: known.id, offset: offset,
                                                               bytes: Array(part.bytes), stream: part.stream)))
                        offset += Int64(part.bytes.count)
                    }
                }
            } else if try await store.followOutput(runID: known.id) {
                // Bounded like a subscription: a few events per poll, drained as they come.
                let (stream, continuation) = AsyncStream.makeStream(of: SchedulerEvent.self, bufferingPolicy: .bufferingNewest(256))
                remote = (RemoteRunEvents(store: store, run: known, withOutput: withOutput), stream, continuation)
            } else if let run = try await store.run(id: known.id), run.status.isFinal {
                // Read after the ask, not before: a run of another node that ends in between
                // is refused by the ask and must be found ended here, since this node's
                // subscription will never hear of its end. A retry that follows it is told
                // first, as the run's node tells it (a cluster's store knows of it).
                if let retry = try? await store.outputSoFar(runID: run.id)?.retry {
                    opening.append(Self.message(.retryScheduled(job: run.job, runID: run.id, retry: retry)))
                }
                opening.append(Self.message(.runFinished(run)))
                ended = true
            }
            // Otherwise the run is this node's, starting or just started: the subscription,
            // taken before any of these looks, has its events.
        }
        // Only one source is kept: the engine's subscription ends when it is dropped here.
        let stream = remote?.stream ?? subscription.events
        let endSource: @Sendable () -> Void = if let continuation = remote?.continuation { { continuation.finish() } } else { subscription.end }
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        let pump = remote.map { ($0.events, $0.continuation) }
        return Response(status: .ok, headers: headers, body: ResponseBody { [opening, sentUpTo, ended] writer in
            let encoder = APICoding.encoder()
            func frame(_ message: EventMessage) throws -> String {
                var data = String(decoding: try encoder.encode(message), as: UTF8.self)
                if let scope, let value = try? JSONParser.parse(data) { data = scope.shown(value).serialized() }
                return "event: \(message.type)\ndata: \(data)\n\n"
            }
            try await writer.write(ByteBuffer(string: ": schedd events\n\n"))
            for message in opening { try await writer.write(ByteBuffer(string: try frame(message))) }
            guard !ended else { return try await writer.finish(nil) }
            // Events and a keep-alive comment every 5 s (under the idle timeout) go through one
            // stream, so that only this task writes.
            //
            // Bounded: a client that reads slower than events come (`schedctl events --output |
            // less`) would otherwise grow the daemon without limit. Once `Self.maxPendingFrames`
            // frames or `Self.maxPendingBytes` bytes wait to be written, the subscriber is
            // dropped: its subscription ends, a last `dropped` event says so, and nothing more is
            // queued for it. (A follower of one run, `schedctl run --wait`, opens the stream
            // again and says how many bytes of output it missed.) Output of one run that waits
            // is merged into one frame, so that a job writing a line at a time does not fill
            // the queue with tiny frames faster than any client takes them.
            let frames = CoalescingQueue<Outgoing>(
                maxCount: Self.maxPendingFrames, maxSize: Self.maxPendingBytes, overflow: .refuse,
                sizeOf: \.size, merge: Outgoing.merge)
            try await withThrowingTaskGroup(of: Void.self) { group in
                if let (events, continuation) = pump { group.addTask { await events.pump(into: continuation) } }
                group.addTask {
                    var sentUpTo = sentUpTo
                    for await received in stream {
                        var event = received
                        if let runID, case let .runOutput(job, id, offset, bytes, stream) = event, id == runID {
                            // Drop what the opening tail already held.
                            let end = offset + Int64(bytes.count)
                            guard end > sentUpTo else { continue }
                            if offset < sentUpTo {
                                event = .runOutput(job: job, runID: id, offset: sentUpTo, bytes: Array(bytes[Int(sentUpTo - offset)...]), stream: stream)
                            }
                            sentUpTo = end
                        }
                        let message = Self.message(event)
                        // A user hears of their own jobs only.
                        if let scope, !scope.owns(message.job) { continue }
                        if let job, message.job != job { continue }
                        if let runID, message.aboutRun != runID { continue }
                        let outgoing: Outgoing = if case let .runOutput(_, _, _, bytes, _) = event {
                            .output(event, size: Outgoing.encodedSize(of: bytes))
                        } else {
                            .frame(try frame(message))
                        }
                        if !frames.push(outgoing) {
                            let behind = "\(frames.count) events"
                            frames.push(.frame(try frame(EventMessage(
                                type: "dropped", job: job ?? "", at: Date(),
                                reason: "this client read too slowly: \(behind) were waiting to be sent"))), force: true)
                            break
                        }
                        if runID != nil, message.type == "run_finished" { break }
                    }
                    frames.finish()
                }
                group.addTask {
                    var endSeen = false
                    while true {
                        try await Task.sleep(for: .seconds(5))
                        // A way out for a client that follows one run, should its end never
                        // come through the stream (an event dropped, a source that missed
                        // it): once the run's row has been final for one whole interval, all
                        // the output the stream was going to carry has come, and the end is
                        // sent from the row. (A read that fails is made again next interval.)
                        if let runID, !ended, let run = try? await store.run(id: runID), run.status.isFinal {
                            if endSeen {
                                frames.push(.frame(try frame(Self.message(.runFinished(run)))), force: true)
                                frames.finish()
                                return
                            }
                            endSeen = true
                        }
                        // Within the bounds: a client that reads nothing is not sent more.
                        frames.push(.frame(": keep-alive\n\n"))
                    }
                }
                // The stream ends when schedd shuts down, so that an open client never holds it
                // up: its source ends, what it had queued is sent (the engine has stopped by
                // then: its runs' last ends are in it), and the events task finishes `frames`.
                try await withGracefulShutdownHandler {
                    while let next = await frames.next() {
                        switch next {
                        case let .frame(text): try await writer.write(ByteBuffer(string: text))
                        case let .output(event, _): try await writer.write(ByteBuffer(string: try frame(Self.message(event))))
                        }
                    }
                } onGracefulShutdown: {
                    endSource()
                }
                group.cancelAll()
            }
            try await writer.finish(nil)
        })
    }

    /// What waits to be written to one events client: a frame, or a run's output, encoded when
    /// it is written so that chunks that follow each other merge first.
    enum Outgoing: Sendable {
        case frame(String)
        /// `size`: of its frame, as JSON will write it (kept, so that merging adds it up
        /// instead of reading the merged bytes again).
        case output(SchedulerEvent, size: Int)

        var size: Int {
            switch self {
            case let .frame(text): text.utf8.count
            case let .output(_, size): size
            }
        }

        /// The bytes of an output frame: JSON writes a control character as six (`\u0000`),
        /// a quote, a backslash or a common control as two, and the message around it.
        static func encodedSize(of bytes: [UInt8]) -> Int {
            var size = 200
            for byte in bytes {
                switch byte {
                case 0x22, 0x5C, 0x08, 0x09, 0x0A, 0x0C, 0x0D: size += 2
                case ..<0x20: size += 6
                default: size += 1
                }
            }
            return size
        }

        static func merge(_ last: inout Outgoing, _ next: Outgoing) -> Bool {
            guard case .output(var event, let size) = last, case let .output(more, moreSize) = next else { return false }
            last = .frame("")
            let merged = SchedulerEvent.mergeOutput(&event, more)
            last = .output(event, size: merged ? size + moreSize : size)
            return merged
        }
    }

    /// Events queued for one `GET /v1/events` client before it is dropped as too slow.
    static let maxPendingFrames = 256
    /// Bytes of events queued for one client before it is dropped as too slow. With output, a
    /// frame holds up to 64 KiB of a run's output, which JSON makes up to six times longer
    /// (`\u0000` for each NUL) only as it is written: frames alone would let 256 of them wait
    /// for one client.
    static let maxPendingBytes = 4 << 20

    static func message(_ event: SchedulerEvent) -> EventMessage {
        let now = Date()
        switch event {
        case let .runQueued(job, trigger): return EventMessage(type: "run_queued", job: job, at: now, trigger: trigger)
        case let .runStarted(run): return EventMessage(type: "run_started", job: run.job, at: now, trigger: run.trigger, run: run)
        case let .runFinished(run): return EventMessage(type: "run_finished", job: run.job, at: now, trigger: run.trigger, run: run)
        case let .retryScheduled(job, runID, retry):
            return EventMessage(type: "retry_scheduled", job: job, at: now, trigger: .retry, runID: runID, retry: retry)
        case let .finalResultDeferred(job, runID, byAnotherNode):
            return EventMessage(type: "final_result_deferred", job: job, at: now, reason: (byAnotherNode ? FinalResultPlace.anotherNode : .nextStart).rawValue, runID: runID)
        case let .jobPaused(job, reason, runID): return EventMessage(type: "job_paused", job: job, at: now, reason: reason, runID: runID)
        case let .jobResumed(job): return EventMessage(type: "job_resumed", job: job, at: now)
        case let .followUp(job, runID, field, target): return EventMessage(type: "follow_up", job: job, at: now, reason: field, runID: runID, target: target)
        case let .runOutput(job, runID, offset, bytes, stream):
            return EventMessage(type: "run_output", job: job, at: now, runID: runID, offset: offset, length: bytes.count,
                                output: String(decoding: bytes, as: UTF8.self), stream: stream)
        }
    }

    /// A yes/no query parameter: absent is false; `true`, `1` or a bare `?name` is true;
    /// `false` or `0` is false. Anything else is refused: `?prune=yes` read as false would
    /// quietly keep the jobs the caller meant to remove.
    static func flag(_ name: String, _ query: Parameters) throws -> Bool {
        guard let value = query.get(name) else { return false }
        switch value {
        case "", "true", "1": return true
        case "false", "0": return false
        default: throw APIError(.invalidArgument, "\(name) \"\(value)\" is not a boolean: use true or false (1 or 0)")
        }
    }

    static func runID(_ context: ControlContext) throws -> Int64 {
        let text = try context.parameters.require("id")
        guard let id = Int64(text) else { throw APIError(.invalidArgument, "\"\(text)\" is not a run id") }
        return id
    }

    // MARK: - Responses

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        response(try encoded(value), status: status, contentType: "application/json")
    }

    /// A value as the API's JSON and a newline. A value that cannot be encoded is an internal
    /// error (500), never an empty object with 200.
    static func encoded(_ value: some Encodable) throws -> ByteBuffer {
        let data: Data
        do {
            data = try APICoding.encoder().encode(value)
        } catch {
            throw APIError(.internal, "the reply could not be encoded: \(error)")
        }
        var buffer = ByteBuffer(data: data)
        buffer.writeString("\n")
        return buffer
    }

    static func text(_ text: String, status: HTTPResponse.Status = .ok, contentType: String) -> Response {
        response(ByteBuffer(string: text), status: status, contentType: contentType)
    }

    static func response(_ body: ByteBuffer, status: HTTPResponse.Status = .ok, contentType: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = contentType
        return Response(status: status, headers: headers, body: .init(byteBuffer: body))
    }
}
