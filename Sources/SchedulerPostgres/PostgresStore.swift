import Foundation
import Logging
import PostgresNIO
import Scheduler
import SchedulerAPI
import Synchronization

/// The store of cluster mode: jobs, their state and run history in PostgreSQL, shared by every
/// node that names the same database (docs/cluster.md).
///
/// What the database decides, so that no node's clock or memory can make it wrong:
/// - a slot of a job (`scheduled_at`, and its retries by `attempt`) is recorded at most once,
///   by a unique key: a start for a slot another node has claimed is refused, and so is a
///   start for a slot that is still ahead by the database's clock;
/// - a node finishes only the runs it started under its current registration (`epoch`), so a
///   node that was declared dead and comes back cannot overwrite what others decided.
///
/// Every call has a deadline (`callTimeout`), shorter than a node's lease.
public final class PostgresStore: SchedulerStore {
    let client: PostgresClient
    let logger: Logger
    public let url: PostgresURL
    /// This node's name and its registration (a fence token: bumped at every start, and when
    /// a node declared dead registers again).
    public let node: String
    public var epoch: Int64 { registration.withLock { $0 } }
    let registration: Mutex<Int64>
    /// The cluster's id, made with its schema.
    public let clusterID: String
    package let instanceID: String
    package let changes = ChangeCounter()
    package var location: String { url.description }
    /// How long one call to the database may take before it fails.
    let callTimeout: Duration
    /// A node whose lease has expired is dead to the others.
    let lease: Duration
    /// Until when this node may act on its lease, by its own monotonic clock: the start of its
    /// last successful renewal plus the lease, less a margin. Past it the node starts nothing,
    /// so it stops before anyone may take its runs over, whatever the wall clocks say.
    let trustedUntil: Mutex<ContinuousClock.Instant>
    /// A start for a slot at most this far ahead of the database's clock waits for it; further
    /// ahead, it is refused (this node's clock is ahead).
    static let earlySlotWait: Duration = .seconds(2)

    init(client: PostgresClient, url: PostgresURL, node: String, epoch: Int64, clusterID: String, callTimeout: Duration,
         lease: Duration, logger: Logger, renewedAt: ContinuousClock.Instant = .now) {
        self.lease = lease
        trustedUntil = Mutex(renewedAt + Self.trustWindow(lease))
        self.client = client
        self.url = url
        self.node = node
        registration = Mutex(epoch)
        self.clusterID = clusterID
        self.callTimeout = callTimeout
        self.logger = logger
        // Stable per node and cluster, so that a restarted node finds the processes and cgroups
        // its previous life left, and two nodes on one machine never take each other's.
        instanceID = "\(clusterID.prefix(12))-\(node)"
    }

    /// How long a renewal is trusted: the lease less a margin for the database's view of it
    /// (a fifth of it, at least a second).
    static func trustWindow(_ lease: Duration) -> Duration {
        lease - max(.seconds(1), lease / 5)
    }

    /// Whether this node's lease is still to be trusted.
    public var leaseIsTrusted: Bool { ContinuousClock.now < leaseTrustedUntil }

    /// Until when, by this node's monotonic clock.
    public var leaseTrustedUntil: ContinuousClock.Instant { trustedUntil.withLock { $0 } }

    // MARK: - Calls with a deadline

    /// Runs `body` on a connection of its own with the store's deadline: past it the call
    /// fails, and its connection is closed. postgres-nio does not stop a query under way when
    /// its task is cancelled, and a connection whose server has gone silent (a node frozen and
    /// woken, a network cut) never answers: closing it is what fails the query, so that the
    /// call ends by its deadline whatever the connection does. The pool opens another.
    ///
    /// The work runs in a task of its own, which the call does not wait for past its deadline:
    /// a query postgres-nio 1.33.2 is asked to run on a connection already closed never
    /// returns (the write fails without failing the query), so a body between two queries
    /// when its connection is closed would hold a child task, and so the call, for ever
    /// (`aCallWhoseConnectionIsClosedEndsByItsDeadline`). Such a task is left behind with its
    /// closed connection; nothing else waits for it.
    @discardableResult
    func call<T: Sendable>(_ what: String, timeout: Duration? = nil,
                           _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let timeout = timeout ?? callTimeout
        let client = self.client
        let leased = LeasedConnection()
        let answer = CallAnswer<T>()
        let work = Task {
            answer.resolve(await catching {
                try await client.withConnection { connection in
                    leased.hold(connection)
                    defer { leased.release() }
                    return try await body(connection)
                }
            })
        }
        do {
            guard let result = await answer.value(within: timeout) else {
                leased.close()
                work.cancel()
                try Task.checkCancellation()
                throw APIError(.databaseUnavailable, "the PostgreSQL database did not answer within \(timeout) (\(what))")
            }
            return try result.get()
        } catch let error as APIError {
            throw error
        } catch let error as PSQLError {
            throw Self.apiError(error, what)
        } catch let error as PostgresTransactionError {
            // What failed inside the transaction, or its begin or commit.
            if let inner = error.closureError as? APIError { throw inner }
            if let inner = (error.closureError ?? error.beginError ?? error.commitError) as? PSQLError { throw Self.apiError(inner, what) }
            throw storeError(error.closureError ?? error)
        } catch {
            throw storeError(error)
        }
    }

    /// A transaction with the store's deadline; one that PostgreSQL chose as a deadlock's victim
    /// (or a serialization failure) is tried again, up to three times.
    @discardableResult
    func transaction<T: Sendable>(_ what: String, timeout: Duration? = nil,
                                  _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let logger = self.logger
        return try await call(what, timeout: timeout) { connection in
            var attempt = 1
            while true {
                do {
                    return try await connection.withTransaction(logger: logger) { connection in try await body(connection) }
                } catch let error as PostgresTransactionError where attempt < 3 && Self.isRetryable(error) {
                    attempt += 1
                }
            }
        }
    }

    /// A deadlock's victim (40P01) or a serialization failure (40001): worth another try.
    static func isRetryable(_ error: PostgresTransactionError) -> Bool {
        guard let inner = (error.closureError ?? error.commitError) as? PSQLError, let state = inner.serverInfo?[.sqlState] else {
            return false
        }
        return state == "40P01" || state == "40001"
    }

    /// Runs a write that records final statuses so that it completes whatever happens to the
    /// calling task (the engine records its runs' ends on its way out of a cancelled shutdown):
    /// in a task of its own, joined at once, which the caller's cancellation does not reach
    /// (swift-subprocess's `withUncancelledTask` is the model). The call's own deadline still
    /// ends it. `StoreContractTests.endsAreWrittenInACancelledTask` holds every store to it.
    func uncancelled<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await Task { try await body() }.value
    }

    /// A PostgreSQL error as the module's error: a server that cannot be reached is
    /// `database_unavailable`, anything else names what PostgreSQL said.
    static func apiError(_ error: PSQLError, _ what: String) -> APIError {
        if error.code == .server {
            return APIError(.internal, "database error (\(what)): \(describe(error))")
        }
        return APIError(.databaseUnavailable, "the PostgreSQL database cannot be reached (\(what)): \(describe(error))")
    }

    /// What PostgreSQL said, without the query's text.
    static func describe(_ error: PSQLError) -> String {
        if let server = error.serverInfo, let message = server[.message] {
            return "\(server[.sqlState].map { "\($0): " } ?? "")\(message)"
        }
        return "\(error.code)"
    }

    /// Milliseconds, as every time the stores hand out has them.
    static func ms(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1000).rounded() / 1000)
    }

    // MARK: - Reads

    static let jobColumns = """
        j.name, j.spec, j.created_at, j.updated_at, s.paused, s.pause_reason, s.consecutive_failures,
        greatest(s.last_run_id, (SELECT max(r.id) FROM runs r WHERE r.job = j.name)), s.next_run_at,
        greatest(s.last_fire_at, (SELECT max(r.scheduled_at) FROM runs r WHERE r.job = j.name AND r.scheduled_at IS NOT NULL)),
        j.origin, j.origin_detail, j.created_by, j.changed_by
        """

    /// `all`: the rows are every job, so texts no job has any more leave the decode cache.
    static func jobInfos(_ rows: PostgresRowSequence, all: Bool = false) async throws -> [JobInfo] {
        var infos: [JobInfo] = []
        var current: [(text: String, value: SharedValue<JobSpec>)] = []
        for try await row in rows {
            let (name, text, created, updated, paused, reason, failures, lastRun, next, lastFire, origin, detail, createdBy, changedBy) =
                try row.decode((String, String, Date, Date, Bool?, String?, Int32?, Int64?, Date?, Date?, String, String?, String?, String?).self)
            let state = JobState(paused: paused ?? false, pauseReason: reason, consecutiveFailures: Int(failures ?? 0), lastRunID: lastRun,
                                 nextRunAt: next.map(ms), lastFireAt: lastFire.map(ms))
            let spec: SharedValue<JobSpec>
            var problem: String?
            do {
                spec = try JobStore.decodeSharedSpec(text, name: name)
                if all { current.append((text, spec)) }
            } catch {
                // One unreadable definition must not hide the others: a disabled stand-in says why.
                var standIn = JobSpec(name: name, action: .shell("false"))
                standIn.enabled = false
                spec = SharedValue(standIn)
                problem = (error as? APIError)?.message ?? "\(error)"
            }
            infos.append(JobInfo(sharedSpec: spec, createdAt: ms(created), updatedAt: ms(updated), state: state,
                                 origin: JobOrigin(kind: JobOrigin.Kind(rawValue: origin) ?? .api, detail: detail), problem: problem,
                                 createdBy: createdBy, changedBy: changedBy))
        }
        if all { JobStore.specCache.keepOnly(current) }
        return infos
    }

    package func jobs() async throws -> [JobInfo] {
        return try await call("jobs") { connection in
            try await Self.jobInfos(try await connection.query("""
                SELECT \(unescaped: Self.jobColumns) FROM jobs j LEFT JOIN job_state s ON s.job = j.name ORDER BY j.name
                """), all: true)
        }
    }

    package func job(named name: String) async throws -> JobInfo? {
        return try await call("job") { connection in
            try await Self.jobInfos(try await connection.query("""
                SELECT \(unescaped: Self.jobColumns) FROM jobs j LEFT JOIN job_state s ON s.job = j.name WHERE j.name = \(name)
                """)).first
        }
    }

    package func jobNames() async throws -> Set<String> {
        return try await call("job names") { connection in
            var names = Set<String>()
            for try await name in try await connection.query("SELECT name FROM jobs").decode(String.self) { names.insert(name) }
            return names
        }
    }

    package func jobStateCounts() async throws -> StatusResponse.Jobs {
        StatusResponse.Jobs(counting: try await jobs())
    }

    static let runColumns = """
        id, job, trigger, attempt, status, scheduled_at, started_at, finished_at, duration_ms, exit_code, signal, pid, output, \
        output_truncated, error, output_streams, cpu_ms, triggered_by, cancelled_by, triggered_by_run, retry_of, node
        """
    /// `runColumns` of the table named `r`.
    static let runColumnsOfR = runColumns.split(separator: ",").map { "r." + $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        .joined(separator: ", ")
    static let runColumnsWithoutOutput = runColumns.replacingOccurrences(of: "pid, output,", with: "pid, NULL::text,")
        .replacingOccurrences(of: "error, output_streams,", with: "error, NULL::text,")

    static func records(_ rows: PostgresRowSequence) async throws -> [RunRecord] {
        var records: [RunRecord] = []
        for try await row in rows {
            let (id, job, trigger, attempt, status, scheduled, started, finished, duration, exitCode, signal, pid, output, truncated, error,
                 streams, cpu, triggeredBy, cancelledBy, triggeredByRun, retryOf, node) =
                try row.decode((Int64, String, String, Int32, String, Date?, Date, Date?, Int64?, Int32?, Int32?, Int32?, String?, Bool,
                                String?, String?, Int64?, String?, String?, Int64?, Int64?, String?).self)
            records.append(RunRecord(
                id: id, job: job, trigger: RunTrigger(rawValue: trigger) ?? .manual, attempt: Int(attempt),
                status: RunStatus(rawValue: status) ?? .failed, scheduledAt: scheduled.map(ms), startedAt: ms(started),
                finishedAt: finished.map(ms), durationMs: duration, exitCode: exitCode, signal: signal, pid: pid, output: output,
                outputTruncated: truncated, outputStreams: OutputSegment.decode(streams), error: error, cpuMs: cpu,
                triggeredBy: triggeredBy, cancelledBy: cancelledBy, triggeredByRun: triggeredByRun, retryOf: retryOf, node: node))
        }
        return records
    }

    package func run(id: Int64) async throws -> RunRecord? {
        return try await call("run") { connection in
            try await Self.records(try await connection.query("SELECT \(unescaped: Self.runColumns) FROM runs WHERE id = \(id)")).first
        }
    }

    package func runs(ids: [Int64]) async throws -> [Int64: RunRecord] {
        guard !ids.isEmpty else { return [:] }
        return try await call("runs") { connection in
            let found = try await Self.records(try await connection.query("""
                SELECT \(unescaped: Self.runColumnsWithoutOutput) FROM runs WHERE id = ANY(\(ids))
                """))
            return Dictionary(found.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        }
    }

    package func history(_ query: HistoryQuery, withOutput: Bool) async throws -> [RunRecord] {
        let columns = withOutput ? Self.runColumns : Self.runColumnsWithoutOutput
        // NULL parameters switch a condition off; `OWNER/` up to `OWNER0` are the names of one
        // user's jobs, a range on the index by job.
        let ownerLow = query.owner.map { $0 + "/" }
        let ownerHigh = query.owner.map { $0 + "0" }
        let limit = max(0, query.limit)
        return try await call("history") { connection in
            try await Self.records(try await connection.query("""
                SELECT \(unescaped: columns) FROM runs
                WHERE (\(query.job)::text IS NULL OR job = \(query.job))
                  AND (\(ownerLow)::text IS NULL OR (job >= \(ownerLow) AND job < \(ownerHigh)))
                  AND (\(query.status?.rawValue)::text IS NULL OR status = \(query.status?.rawValue))
                  AND (\(query.since)::timestamptz IS NULL OR started_at >= \(query.since))
                  AND (\(query.beforeID)::bigint IS NULL OR id < \(query.beforeID))
                ORDER BY id DESC LIMIT \(limit)
                """))
        }
    }

    package func releaseMemoryEventually() {}

    // MARK: - Jobs

    package func applyJobs(_ file: JobFile, prune: Bool, dryRun: Bool, now: Date, source: Data?, origin: JobOrigin,
                           protectedFile: String?) async throws -> ApplyResult {
        defer { changes.bump() }
        let sourceText = source.map { $0.base64EncodedString() }
        let node = self.node
        let logger = self.logger
        return try await transaction("apply") { connection in
            // One change of the job set at a time across the cluster: the plan is made against
            // what the database holds under the lock.
            try await connection.query("SELECT pg_advisory_xact_lock(\(PostgresSchema.migrationLock + 1))", logger: Logger(label: "schedd"))
            var existing: [String: String] = [:]
            var owners: [String: JobOrigin] = [:]
            for try await (name, spec, kind, detail) in try await connection.query("SELECT name, spec, origin, origin_detail FROM jobs",
                                                                                  logger: Logger(label: "schedd"))
                .decode((String, String, String, String?).self) {
                existing[name] = spec
                owners[name] = JobOrigin(kind: JobOrigin.Kind(rawValue: kind) ?? .api, detail: detail)
            }
            var plan = try JobChangePlan(file: file, existing: existing, owners: owners, prune: prune, dryRun: dryRun, origin: origin,
                                         protectedFile: protectedFile)
            if let sourceText, prune, let other = try await Self.nodeOfAnotherJobFile(than: sourceText, this: node, connection) {
                plan.result.warnings = Self.jobFileWarnings(plan.result, otherNode: other)
                if !dryRun && !plan.result.warnings!.isEmpty {
                    logger.warning("this node's job file differs from the one another node applied last", metadata: [
                        "schedd.node": "\(other)", "schedd.created": "\(plan.result.created.joined(separator: ","))",
                        "schedd.updated": "\(plan.result.updated.joined(separator: ","))",
                        "schedd.removed": "\(plan.result.removed.joined(separator: ","))",
                    ])
                }
            }
            if dryRun { return plan.result }
            let unchanged = Set(plan.result.unchanged)
            let log = Logger(label: "schedd")
            for spec in file.jobs where !unchanged.contains(spec.name) {
                let text = plan.texts[spec.name] ?? ""
                try await connection.query("""
                    INSERT INTO jobs (name, spec, enabled, created_at, updated_at, origin, origin_detail, created_by, changed_by)
                    VALUES (\(spec.name), \(text), \(spec.isEnabled), \(now), \(now), \(origin.kind.rawValue), \(origin.detail),
                            \(origin.actor), \(origin.actor))
                    ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, enabled = excluded.enabled, updated_at = excluded.updated_at,
                        origin = excluded.origin, origin_detail = excluded.origin_detail, changed_by = excluded.changed_by
                    """, logger: log)
                try await connection.query("INSERT INTO job_state (job) VALUES (\(spec.name)) ON CONFLICT DO NOTHING", logger: log)
            }
            if !plan.ownerChanges.isEmpty {
                try await connection.query("""
                    UPDATE jobs SET origin = \(origin.kind.rawValue), origin_detail = \(origin.detail) WHERE name = ANY(\(plan.ownerChanges))
                    """, logger: log)
            }
            if !plan.result.removed.isEmpty {
                try await connection.query("DELETE FROM jobs WHERE name = ANY(\(plan.result.removed))", logger: log)
                // A service created again under the same name starts on whichever node claims it.
                try await connection.query("DELETE FROM service_holders WHERE job = ANY(\(plan.result.removed))", logger: log)
            }
            if let sourceText, prune {
                // The node that brought this file first: the same file applied again by another
                // node (as every node does at its start) is not that node's difference.
                try await connection.query("""
                    INSERT INTO meta (key, value) SELECT 'applied_node', \(node)
                    WHERE (SELECT value FROM meta WHERE key = 'applied_source') IS DISTINCT FROM \(sourceText)
                    ON CONFLICT (key) DO UPDATE SET value = excluded.value
                    """, logger: log)
                // After the writes, so that the generation recorded includes them.
                try await connection.query("""
                    INSERT INTO meta (key, value) VALUES ('applied_source', \(sourceText)),
                        ('applied_generation', (SELECT value FROM meta WHERE key = 'jobs_generation'))
                    ON CONFLICT (key) DO UPDATE SET value = excluded.value
                    """, logger: log)
            }
            return plan.result
        }
    }

    /// The node that brought the job file applied last, when it is another node and its file
    /// differs from `source`: each node's reload or restart would then undo the other's changes.
    private static func nodeOfAnotherJobFile(than source: String, this node: String, _ connection: PostgresConnection) async throws -> String? {
        var other: String?
        for try await (applied, appliedBy) in try await connection.query("""
            SELECT (SELECT value FROM meta WHERE key = 'applied_source'), (SELECT value FROM meta WHERE key = 'applied_node')
            """, logger: Logger(label: "schedd")).decode((String?, String?).self) {
            if let applied, let appliedBy, applied != source, appliedBy != node { other = appliedBy }
        }
        return other
    }

    /// One warning per job that an apply of this node's job file changes from what `otherNode`'s
    /// file made it.
    private static func jobFileWarnings(_ result: ApplyResult, otherNode: String) -> [JobWarning] {
        let undone = "while the nodes' job files differ, each one's reload or restart undoes the other's (give every node the same file)"
        return result.created.map { JobWarning(job: $0, message: "node \(otherNode)'s job file (applied last) does not have it: this node's creates it; \(undone)") }
            + result.updated.map { JobWarning(job: $0, message: "node \(otherNode)'s job file (applied last) defines it otherwise: this node's changes it; \(undone)") }
            + result.removed.map { JobWarning(job: $0, message: "node \(otherNode)'s job file (applied last) has it: this node's removes it; \(undone)") }
    }

    package func unchangedJobs(since source: Data) async throws -> [String]? {
        let text = source.base64EncodedString()
        return try await call("unchanged jobs") { connection in
            let rows = try await connection.query("""
                SELECT (SELECT value FROM meta WHERE key = 'applied_source') = \(text)
                   AND (SELECT value FROM meta WHERE key = 'applied_generation') = (SELECT value FROM meta WHERE key = 'jobs_generation')
                """)
            var same = false
            for try await value in rows.decode(Bool?.self) { same = value ?? false }
            guard same else { return nil }
            var names: [String] = []
            // The file's jobs, as the full apply reports them: not those of the API.
            for try await name in try await connection.query("SELECT name FROM jobs WHERE origin = 'file' ORDER BY name").decode(String.self) {
                names.append(name)
            }
            return names
        }
    }

    package func jobNames(keptByPruneOf origin: JobOrigin.Kind, protectedFile: String?) async throws -> Set<String> {
        return try await call("job owners") { connection in
            var kept = Set<String>()
            for try await (name, kind) in try await connection.query("SELECT name, origin FROM jobs").decode((String, String).self) {
                if !JobChangePlan.prunes(JobOrigin.Kind(rawValue: kind) ?? .api, by: origin, protectedFile: protectedFile) { kept.insert(name) }
            }
            return kept
        }
    }

    package func removeJob(named name: String, protectedFile: String?) async throws {
        defer { changes.bump() }
        try await transaction("remove") { connection in
            let log = Logger(label: "schedd")
            try await connection.query("SELECT pg_advisory_xact_lock(\(PostgresSchema.migrationLock + 1))", logger: log)
            var owner: JobOrigin?
            var specs: [JobSpec] = []
            for try await (job, text, kind, detail) in try await connection.query("SELECT name, spec, origin, origin_detail FROM jobs", logger: log)
                .decode((String, String, String, String?).self) {
                specs.append(try JobStore.decodeSpec(text, name: job))
                if job == name { owner = JobOrigin(kind: JobOrigin.Kind(rawValue: kind) ?? .api, detail: detail) }
            }
            try JobChangePlan.checkRemoval(of: name, owner: owner, specs: specs, protectedFile: protectedFile)
            try await connection.query("DELETE FROM jobs WHERE name = \(name)", logger: log)
            try await connection.query("DELETE FROM service_holders WHERE job = \(name)", logger: log)
        }
    }

    package func saveStates(_ states: [(name: String, state: JobState)]) async throws {
        guard !states.isEmpty else { return }
        defer { changes.bump() }
        let names = states.map(\.name)
        let paused = states.map(\.state.paused)
        let reasons = states.map { $0.state.pauseReason ?? "" }
        let failures = states.map { Int64($0.state.consecutiveFailures) }
        let lastRuns = states.map { $0.state.lastRunID ?? 0 }
        let nexts = states.map { $0.state.nextRunAt.map { $0.timeIntervalSince1970 } ?? -1 }
        let fires = states.map { $0.state.lastFireAt.map { $0.timeIntervalSince1970 } ?? -1 }
        try await transaction("job states") { connection in
            try await Self.lockStates(names, connection)
            // One statement for any number of jobs; absent values travel as '' / 0 / -1. A fire
            // time never goes back (another node may have fired a later slot).
            try await connection.query("""
                UPDATE job_state s SET paused = v.paused, pause_reason = nullif(v.reason, ''),
                    consecutive_failures = CASE WHEN v.failures = 0 AND s.paused AND NOT v.paused THEN 0 ELSE s.consecutive_failures END,
                    last_run_id = greatest(s.last_run_id, nullif(v.last_run, 0)),
                    next_run_at = CASE WHEN v.next < 0 THEN NULL ELSE to_timestamp(v.next) END,
                    last_fire_at = greatest(s.last_fire_at, CASE WHEN v.fire < 0 THEN NULL ELSE to_timestamp(v.fire) END)
                FROM unnest(\(names)::text[], \(paused)::boolean[], \(reasons)::text[], \(failures)::bigint[], \(lastRuns)::bigint[],
                            \(nexts)::float8[], \(fires)::float8[]) AS v (job, paused, reason, failures, last_run, next, fire)
                WHERE s.job = v.job
                """, logger: Logger(label: "schedd"))
        }
    }

    /// Locks the named jobs' state rows in name order: every node changes several rows at once
    /// (the fire times of a second), and rows locked in the order an UPDATE happens to visit
    /// them deadlocked two nodes with each other.
    static func lockStates(_ names: [String], _ connection: PostgresConnection) async throws {
        try await connection.query("SELECT job FROM job_state WHERE job = ANY(\(names)) ORDER BY job FOR UPDATE",
                                   logger: Logger(label: "schedd"))
    }

    package func recordFires(_ states: [(name: String, state: JobState)]) -> StoreWrite? {
        guard !states.isEmpty else { return nil }
        // The database decides a slot when its run starts (the unique key); the fire times
        // written here are what `list` shows. Written once, by the first start that waits for
        // it, before that start's row.
        let once = OnceWrite {
            // Only what `list` shows: a failure here must not keep the runs from starting.
            do {
                try await self.saveFireTimes(states)
            } catch {
                self.logger.warning("cannot record fire times", metadata: ["schedd.error": "\(error)"])
            }
        }
        return StoreWrite { try await once.run() }
    }

    func saveFireTimes(_ states: [(name: String, state: JobState)]) async throws {
        let names = states.map(\.name)
        let nexts = states.map { $0.state.nextRunAt.map { $0.timeIntervalSince1970 } ?? -1 }
        let fires = states.map { $0.state.lastFireAt.map { $0.timeIntervalSince1970 } ?? -1 }
        // Every node fires the same slots and writes the same times: a row another node is
        // writing right now is left to it (SKIP LOCKED) rather than waited for, a row that
        // already holds the times (another node wrote them) is neither locked nor written, and
        // the rest are locked in name order (rows locked in the order an UPDATE happens to
        // visit them deadlocked nodes with each other).
        try await call("fire times") { connection in
            try await connection.query("""
                WITH v AS (SELECT job, CASE WHEN next < 0 THEN NULL ELSE to_timestamp(next) END AS next,
                                  CASE WHEN fire < 0 THEN NULL ELSE to_timestamp(fire) END AS fire
                           FROM unnest(\(names)::text[], \(nexts)::float8[], \(fires)::float8[]) AS u (job, next, fire)),
                     l AS (SELECT s.job FROM job_state s JOIN v ON v.job = s.job
                           WHERE s.next_run_at IS DISTINCT FROM v.next OR s.last_fire_at IS DISTINCT FROM greatest(s.last_fire_at, v.fire)
                           ORDER BY s.job FOR UPDATE OF s SKIP LOCKED)
                UPDATE job_state s SET next_run_at = v.next, last_fire_at = greatest(s.last_fire_at, v.fire)
                FROM v, l
                WHERE s.job = v.job AND s.job = l.job
                """)
        }
    }

    // MARK: - Runs

    package func interruptLeftovers(at now: Date) async throws -> [RunRecord] {
        defer { changes.bump() }
        let node = self.node
        // Only this node's own: another node's running rows are that node's (or, once its lease
        // has expired, the cluster's to declare lost).
        return try await transaction("leftovers") { connection in
            let log = Logger(label: "schedd")
            let leftovers = try await Self.records(try await connection.query("""
                SELECT \(unescaped: Self.runColumns) FROM runs WHERE status = 'running' AND node = \(node) ORDER BY id DESC
                """, logger: log))
            try await connection.query("""
                UPDATE runs SET status = 'interrupted', finished_at = \(now),
                    duration_ms = greatest(0, round(extract(epoch FROM (\(now) - started_at)) * 1000))::bigint,
                    error = 'schedd stopped while the run was active'
                WHERE status = 'running' AND node = \(node)
                """, logger: log)
            return leftovers
        }
    }

    package func startRuns(_ starts: [RunStart]) async throws -> [RunStart.Outcome] {
        guard leaseIsTrusted else {
            return starts.map { _ in .refused("this node's lease has lapsed (the database has not answered its renewals): it starts nothing until it renews") }
        }
        for start in starts { try await start.fire?.wait() }
        defer { changes.bump() }
        var outcomes = [RunStart.Outcome?](repeating: nil, count: starts.count)
        var batch = Array(starts.indices)
        var waitIfEarly = true
        while !batch.isEmpty {
            let claimed = try await claimTurn(batch.map { starts[$0] })
            var early: [Int] = []
            var wait = 0.0
            for (index, outcome) in zip(batch, claimed) {
                if case .early(let seconds) = outcome, waitIfEarly && seconds <= Self.seconds(Self.earlySlotWait) {
                    early.append(index)
                    wait = max(wait, seconds)
                } else {
                    outcomes[index] = outcome.outcome(start: starts[index], node: node, logger: logger)
                }
            }
            guard !early.isEmpty else { break }
            // This node's clock runs a little ahead of the database's: wait for the slots, then
            // claim them once more.
            try await Task.sleep(for: .milliseconds(Int64(max(0, wait) * 1000) + 1))
            batch = early
            waitIfEarly = false
        }
        return outcomes.map { $0 ?? .refused("not claimed") }
    }

    /// Claims a turn's starts: a service takes its holder first, one at a time (they are
    /// few), and every other start is claimed in one statement.
    func claimTurn(_ starts: [RunStart]) async throws -> [ClaimOutcome] {
        let node = self.node
        let epoch = self.epoch
        var outcomes = [ClaimOutcome?](repeating: nil, count: starts.count)
        for (index, start) in starts.enumerated() where start.exclusive {
            outcomes[index] = try await transaction("start") { connection in
                if let holder = try await Self.holdService(start.job, node: node, epoch: epoch, connection) { return .held(node: holder) }
                return try await Self.insertStarts([start], node: node, epoch: epoch, connection)[0]
            }
        }
        let others = starts.indices.filter { !starts[$0].exclusive }
        if !others.isEmpty {
            let claimed = try await call("start") { connection in
                try await Self.insertStarts(others.map { starts[$0] }, node: node, epoch: epoch, connection)
            }
            for (index, outcome) in zip(others, claimed) { outcomes[index] = outcome }
        }
        return outcomes.map { $0! }
    }

    /// One node at a time runs a service: this node, or any node once the holder is no longer
    /// up under the registration it held it with. Nil when this node holds it now; else the
    /// holder.
    static func holdService(_ job: String, node: String, epoch: Int64, _ connection: PostgresConnection) async throws -> String? {
        var holder: String?
        for try await name in try await connection.query("""
            INSERT INTO service_holders AS h (job, node, epoch) VALUES (\(job), \(node), \(epoch))
            ON CONFLICT (job) DO UPDATE SET node = excluded.node, epoch = excluded.epoch
            WHERE h.node = excluded.node
               OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.name = h.node AND n.epoch = h.epoch AND n.state = 'up')
            RETURNING node
            """).decode(String.self) { holder = name }
        if holder != nil { return nil }
        for try await name in try await connection.query("SELECT node FROM service_holders WHERE job = \(job)").decode(String.self) {
            return name
        }
        return nil
    }

    /// Inserts the start rows of `starts` in one statement, each unless its slot is taken or
    /// still ahead of the database's clock, and says for each what happened.
    static func insertStarts(_ starts: [RunStart], node: String, epoch: Int64, _ connection: PostgresConnection) async throws -> [ClaimOutcome] {
        var outcomes = try await insertStartsOnce(starts, node: node, epoch: epoch, connection)
        // A start that waits for its job and lost the job's one place for a forbidding run to a
        // run inserted beside it, or a retry refused for a run that has ended since: neither
        // busy nor taken, it asks again.
        for _ in 0..<3 {
            let raced = starts.indices.filter { outcomes[$0] == nil && starts[$0].waitsForJob }
            guard !raced.isEmpty else { break }
            let again = try await insertStartsOnce(raced.map { starts[$0] }, node: node, epoch: epoch, connection)
            for (index, outcome) in zip(raced, again) { outcomes[index] = outcome }
        }
        // A start without a slot, and not a retry, is never refused by the database: not
        // inserted, it is a row the statement lost, which is a fault to report, not a refusal.
        return try outcomes.map { outcome in
            guard let outcome else { throw APIError(.internal, "a run's start row was not written") }
            return outcome
        }
    }

    private static func insertStartsOnce(_ starts: [RunStart], node: String, epoch: Int64, _ connection: PostgresConnection) async throws -> [ClaimOutcome?] {
        let jobs = starts.map(\.job)
        let triggers = starts.map(\.trigger.rawValue)
        let attempts = starts.map { Int32($0.attempt) }
        let hasSlot = starts.map { $0.scheduledAt != nil }
        // A start without a slot carries a stand-in time that `has_slot` switches off.
        let slots = starts.map { $0.scheduledAt ?? $0.startedAt }
        let started = starts.map(\.startedAt)
        let triggeredBy = starts.map { $0.triggeredBy ?? "" }
        let byRun = starts.map { $0.triggeredByRun ?? -1 }
        let retryOf = starts.map { $0.retryOf ?? -1 }
        let waits = starts.map(\.waitsForJob)
        var inserted = try await Self.records(try await connection.query("""
            INSERT INTO runs (job, trigger, attempt, status, scheduled_at, started_at, triggered_by, triggered_by_run, retry_of, node, epoch,
                              forbids_overlap)
            SELECT v.job, v.trigger, v.attempt, 'running', CASE WHEN v.has_slot THEN v.slot END, v.started, nullif(v.by, ''),
                   nullif(v.by_run, -1), nullif(v.retry_of, -1), \(node), \(epoch), v.waits
            FROM unnest(\(jobs)::text[], \(triggers)::text[], \(attempts)::int4[], \(hasSlot)::bool[], \(slots)::timestamptz[],
                        \(started)::timestamptz[], \(triggeredBy)::text[], \(byRun)::int8[], \(retryOf)::int8[], \(waits)::bool[])
                 WITH ORDINALITY AS v (job, trigger, attempt, has_slot, slot, started, by, by_run, retry_of, waits, ord)
            WHERE (NOT v.has_slot OR v.slot <= now())
              AND NOT (v.waits AND EXISTS (SELECT 1 FROM runs a WHERE a.job = v.job AND a.status IN ('queued', 'running')
                                              AND (NOT v.has_slot OR a.scheduled_at IS DISTINCT FROM v.slot)))
            ORDER BY v.job, v.ord
            ON CONFLICT DO NOTHING
            RETURNING \(unescaped: Self.runColumns)
            """))
        var outcomes = [ClaimOutcome?](repeating: nil, count: starts.count)
        for (index, start) in starts.enumerated() {
            // Each start's row, by what identifies it; starts alike in everything (two
            // manual runs of a job in one turn) take the rows in any order.
            if let found = inserted.firstIndex(where: { row in
                row.job == start.job && row.attempt == start.attempt && row.trigger == start.trigger
                    && row.scheduledAt.map(Self.ms) == start.scheduledAt.map(Self.ms) && (row.triggeredBy ?? "") == (start.triggeredBy ?? "")
                    && row.triggeredByRun == start.triggeredByRun && row.retryOf == start.retryOf
            }) {
                outcomes[index] = .started(inserted.remove(at: found))
            }
        }
        // A retry whose row another start or a skip wrote first (on any node).
        let retries = starts.indices.filter { outcomes[$0] == nil && starts[$0].retryOf != nil }
        if !retries.isEmpty {
            let order = retries.map { Int32($0) }
            for try await (ord, id, holder) in try await connection.query("""
                SELECT v.ord, r.id, r.node
                FROM unnest(\(order)::int4[], \(retries.map { starts[$0].retryOf ?? -1 })::int8[]) AS v (ord, retry_of)
                JOIN runs r ON r.retry_of = v.retry_of
                """).decode((Int32, Int64, String).self) {
                outcomes[Int(ord)] = .retried(id: id, node: holder)
            }
        }
        // A start that waits for its job, while a run of the job (of another slot) is running
        // or queued; a slot that has its row already is taken, below, whatever else runs.
        let waiting = starts.indices.filter { outcomes[$0] == nil && starts[$0].waitsForJob }
        if !waiting.isEmpty {
            let order = waiting.map { Int32($0) }
            for try await (ord, id, status, holder) in try await connection.query("""
                SELECT DISTINCT ON (v.ord) v.ord, a.id, a.status, a.node
                FROM unnest(\(order)::int4[], \(waiting.map { jobs[$0] })::text[], \(waiting.map { hasSlot[$0] })::bool[],
                            \(waiting.map { slots[$0] })::timestamptz[]) AS v (ord, job, has_slot, slot)
                JOIN runs a ON a.job = v.job AND a.status IN ('queued', 'running') AND (NOT v.has_slot OR a.scheduled_at IS DISTINCT FROM v.slot)
                WHERE NOT (v.has_slot AND EXISTS (SELECT 1 FROM runs t WHERE t.job = v.job AND t.scheduled_at = v.slot AND t.status <> 'skipped'))
                ORDER BY v.ord, a.status = 'running' DESC, a.id
                """).decode((Int32, Int64, String, String).self) {
                outcomes[Int(ord)] = .busy(id: id, node: status == "running" ? holder : nil)
            }
            // A retry, or a missed time of `catch_up: all`, waits: the run it waits for wakes
            // the nodes when it is no longer queued or running (schema version 14's trigger),
            // rather than leaving it to its next look. One no longer queued or running by the
            // time it is marked is no reason to wait: the start asks again.
            let blocked = waiting.compactMap { index -> (index: Int, run: Int64)? in
                guard starts[index].trigger == .retry || starts[index].trigger == .catchUp,
                      case let .busy(id, _) = outcomes[index] else { return nil }
                return (index, id)
            }
            if !blocked.isEmpty {
                var marked: Set<Int64> = []
                for try await id in try await connection.query("""
                    UPDATE runs SET wake_on_end = true WHERE id = ANY(\(blocked.map(\.run))::int8[]) AND status IN ('queued', 'running')
                    RETURNING id
                    """).decode(Int64.self) { marked.insert(id) }
                for (index, run) in blocked where !marked.contains(run) { outcomes[index] = nil }
            }
        }
        // Why not, for the rest: taken by a run already, or early.
        let rest = starts.indices.filter { outcomes[$0] == nil && starts[$0].scheduledAt != nil }
        if !rest.isEmpty {
            let order = rest.map { Int32($0) }
            for try await (ord, id, holder, ahead) in try await connection.query("""
                SELECT v.ord, r.id, r.node, extract(epoch FROM (v.slot - now()))::float8
                FROM unnest(\(order)::int4[], \(rest.map { jobs[$0] })::text[], \(rest.map { attempts[$0] })::int4[],
                            \(rest.map { slots[$0] })::timestamptz[]) AS v (ord, job, attempt, slot)
                LEFT JOIN runs r ON r.job = v.job AND r.scheduled_at = v.slot AND r.attempt = v.attempt AND r.status <> 'skipped'
                """).decode((Int32, Int64?, String?, Double).self) {
                let index = Int(ord)
                if let id, let holder {
                    outcomes[index] = .taken(id: id, node: holder)
                } else if outcomes[index] == nil && (ahead > 0 || !starts[index].waitsForJob) {
                    outcomes[index] = .early(seconds: ahead)
                }
            }
        }
        return outcomes
    }

    enum ClaimOutcome: Sendable {
        case started(RunRecord)
        case taken(id: Int64, node: String)
        /// A retry that has its row already: run, or recorded skipped (cancelled), there.
        case retried(id: Int64, node: String)
        case held(node: String)
        case early(seconds: Double)
        /// A start that waits for its job: run `id` of the job runs on `node` (nil: queued).
        case busy(id: Int64, node: String?)

        /// What the engine is told.
        func outcome(start: RunStart, node: String, logger: Logger) -> RunStart.Outcome {
            switch self {
            case .started(let record):
                return .started(record)
            case .held(let holder):
                return .heldElsewhere(node: holder)
            case .taken(let id, let holder):
                return .refused(holder == node ? "this slot was already run (run \(id))" : "node \(holder) runs this slot (run \(id))")
            case .retried(let id, let holder):
                return .refused("this retry has its row already (run \(id), node \(holder)): it ran, or was cancelled before it started")
            case .busy(let id, let holder):
                return .jobBusyElsewhere(runID: id, node: holder)
            case .early(let seconds):
                logger.warning("a slot is not due by the database's clock", metadata: [
                    "schedd.job": "\(start.job)", "schedd.ahead_ms": .stringConvertible(Int(seconds * 1000)),
                ])
                return .refused(String(format: "the slot is %.1fs ahead of the database's clock (this node's clock is ahead)", seconds))
            }
        }
    }

    package func setPID(_ id: Int64, pid: Int32) async throws {
        defer { changes.bump() }
        try await call("pid") { connection in try await connection.query("UPDATE runs SET pid = \(pid) WHERE id = \(id)") }
    }

    package func finishRuns(_ ends: [(run: RunRecord, outcome: RunOutcome)]) async throws -> [RunRecord?] {
        precondition(ends.allSatisfy { $0.outcome.status.isFinal }, "finish needs a final status")
        guard !ends.isEmpty else { return [] }
        defer { changes.bump() }
        let node = self.node
        let epoch = self.epoch
        // One statement for the turn's ends (a round trip per run was most of a node's time in
        // the database); the rows travel as one JSON array, which carries their NULLs.
        let ends = ends.map { (run: $0.run, outcome: $0.outcome.storable) }
        let rows = try String(decoding: JSONEncoder().encode(ends.map { FinishedRow($0.run.id, $0.outcome) }), as: UTF8.self)
        let written = try await uncancelled { try await self.call("finish") { connection in
            // Only a running row of this node's current registration: a node declared dead
            // (its runs `lost`) that comes back cannot change what the others decided. A
            // success that ends its trigger sets its job's failures in a row back to 0 in the
            // same statement (written only where they were not 0).
            var written: [Int64: Int64] = [:]
            for try await (id, duration) in try await connection.query("""
                WITH ended AS (
                UPDATE runs r SET status = v.status, finished_at = to_timestamp(v.finished_at),
                    duration_ms = coalesce(v.duration_ms, greatest(0, round(extract(epoch FROM (to_timestamp(v.finished_at) - r.started_at)) * 1000))::bigint),
                    exit_code = v.exit_code, signal = v.signal, output = v.output, output_truncated = v.output_truncated,
                    output_streams = v.output_streams, error = v.error, pid = coalesce(v.pid, r.pid), cpu_ms = v.cpu_ms,
                    cancelled_by = v.cancelled_by, output_total = v.output_total, retry_at = to_timestamp(v.retry_at),
                    policy_pending = CASE WHEN v.policy_pending THEN \(node) ELSE r.policy_pending END
                FROM jsonb_to_recordset(\(rows)::jsonb) AS v(id bigint, status text, finished_at double precision, exit_code integer,
                    signal integer, output text, output_truncated boolean, output_streams text, error text, pid integer, cpu_ms bigint,
                    cancelled_by text, output_total bigint, duration_ms bigint, retry_at double precision, resets_failures boolean,
                    policy_pending boolean)
                WHERE r.id = v.id AND r.status = 'running' AND r.node = \(node) AND r.epoch = \(epoch)
                RETURNING r.id, r.duration_ms, r.job, v.resets_failures),
                reset AS (
                UPDATE job_state s SET consecutive_failures = 0
                WHERE s.job IN (SELECT e.job FROM ended e WHERE e.resets_failures) AND s.consecutive_failures <> 0)
                SELECT id, duration_ms FROM ended
                """).decode((Int64, Int64).self) {
                written[id] = duration
            }
            return written
        } }
        return ends.map { run, outcome in
            guard let duration = written[run.id] else { return nil }
            var final = outcome.applied(to: run)
            final.durationMs = duration
            return final
        }
    }

    /// A run's end as `finishRuns` sends it.
    private struct FinishedRow: Encodable {
        var id: Int64
        var status: String
        var finished_at: Double
        var exit_code: Int32?
        var signal: Int32?
        var output: String?
        var output_truncated: Bool
        var output_streams: String?
        var error: String?
        var pid: Int32?
        var cpu_ms: Int64?
        var cancelled_by: String?
        var output_total: Int64?
        var duration_ms: Int64?
        /// Marked for this node: `retry_node` stays NULL, the run's own.
        var retry_at: Double?
        var resets_failures: Bool
        /// Marked for this node, as `setPoliciesPending` does.
        var policy_pending: Bool

        init(_ id: Int64, _ outcome: RunOutcome) {
            self.id = id
            status = outcome.status.rawValue
            // Seconds since the epoch: a Double carries the microseconds PostgreSQL keeps.
            finished_at = outcome.finishedAt.timeIntervalSince1970
            exit_code = outcome.exitCode
            signal = outcome.signal
            output = outcome.output
            output_truncated = outcome.outputTruncated
            output_streams = outcome.outputStreams.map(OutputSegment.encode)
            error = outcome.error
            pid = outcome.pid
            cpu_ms = outcome.cpuMs
            cancelled_by = outcome.cancelledBy
            output_total = outcome.outputBytes
            duration_ms = outcome.durationMs
            retry_at = outcome.retryAt?.timeIntervalSince1970
            resets_failures = outcome.resetsFailuresInARow
            policy_pending = outcome.leavesFinalResult
        }
    }

    // MARK: - The queue of slots

    package var sharedByNodes: Bool { true }

    package var queuesSlots: Bool { true }

    /// The notification channel a node that queues slots wakes the others on (no payload),
    /// and the database wakes the nodes on when a run that a retry or a missed time waits for
    /// is no longer queued or running (the job's name: schema version 14's trigger).
    static let queueChannel = "schedd_queue"

    /// The notification channel the database wakes every node on when the job set or a pause
    /// changed (schema version 4's triggers).
    static let jobsChannel = "schedd_jobs"

    package func queueSlots(_ slots: [QueuedSlot], limit: Int) async throws -> [RunRecord] {
        guard !slots.isEmpty else { return [] }
        defer { changes.bump() }
        let node = self.node
        let epoch = self.epoch
        // A statement does not see its own rows: of a `forbid` job's slots queued together (a
        // missed time and the slot on time), all but the first would overlap it.
        let slots = slots.sorted { ($0.job, $0.scheduledAt) < ($1.job, $1.scheduledAt) }
        var forbidding: Set<String> = []
        let overlapping = slots.map { slot in
            let forbids = slot.forbid && !slot.oneAfterAnother
            defer { if forbids { forbidding.insert(slot.job) } }
            return forbids && forbidding.contains(slot.job)
        }
        // Every node fires every slot: the first insert of a slot wins, and the others find a
        // row for it (any status) and insert nothing. In job order, so that nodes inserting
        // the same slots at once take the unique keys' locks in the same order. A `forbid`
        // slot whose insert found another node's row of the job, inserted beside it, in the
        // job's one place for a forbidding run (`runs_one_forbidding_run`) comes back `lost`:
        // it waited for that statement, and is recorded skipped below.
        let inserted = try await call("queue") { connection in
            var skipped: [Int64] = []
            var queued = 0
            var replacing: [(job: String, slot: Date)] = []
            var lost: [(job: String, trigger: String, slot: Date)] = []
            let replaces = Set(slots.filter(\.replace).map(\.job))
            for try await (status, id, job, trigger, slot) in try await connection.query("""
                WITH backlog AS (SELECT count(*) AS queued FROM runs WHERE status = 'queued'),
                offered AS (
                    SELECT v.job, v.trigger, v.slot, v.forbid, v.waits, s.status, s.why
                    FROM unnest(\(slots.map(\.job))::text[], \(slots.map(\.trigger.rawValue))::text[], \(slots.map(\.scheduledAt))::timestamptz[],
                                \(slots.map { $0.forbid && !$0.oneAfterAnother })::bool[], \(overlapping)::bool[],
                                \(slots.map(\.oneAfterAnother))::bool[]) AS v (job, trigger, slot, forbid, overlapping, waits)
                    CROSS JOIN backlog
                    CROSS JOIN LATERAL (SELECT CASE WHEN c.why IS NULL THEN 'queued' ELSE 'skipped' END AS status, c.why FROM (SELECT CASE
                        WHEN backlog.queued >= \(Int64(limit))
                            THEN 'skipped: ' || backlog.queued || ' slots are already queued across the cluster (the most schedd queues)'
                        WHEN v.forbid AND (v.overlapping OR EXISTS (SELECT 1 FROM runs a WHERE a.job = v.job AND a.status IN ('queued', 'running')))
                            THEN \(Self.forbidSkip)
                        END AS why) c) s
                    WHERE NOT EXISTS (SELECT 1 FROM runs b WHERE b.job = v.job AND b.scheduled_at = v.slot)
                ),
                inserted AS (
                    INSERT INTO runs (job, trigger, attempt, status, scheduled_at, started_at, finished_at, duration_ms, error, node, epoch,
                                      waits_for_job, forbids_overlap)
                    SELECT o.job, o.trigger, 1, o.status, o.slot, now(), CASE WHEN o.status = 'skipped' THEN now() END,
                           CASE WHEN o.status = 'skipped' THEN 0 END, o.why, \(node), \(epoch), o.waits, o.forbid
                    FROM offered o
                    ORDER BY o.job, o.slot
                    ON CONFLICT DO NOTHING
                    RETURNING status, id, job, trigger, scheduled_at
                )
                SELECT status, id, job, trigger, scheduled_at FROM inserted
                UNION ALL
                SELECT 'lost', NULL, o.job, o.trigger, o.slot FROM offered o
                WHERE o.forbid AND o.status = 'queued' AND NOT EXISTS (SELECT 1 FROM inserted i WHERE i.job = o.job AND i.scheduled_at = o.slot)
                """).decode((String, Int64?, String, String, Date).self) {
                if status == "queued" {
                    queued += 1
                    if replaces.contains(job) { replacing.append((job, slot)) }
                } else if let id {
                    skipped.append(id)
                } else {
                    lost.append((job, trigger, slot))
                }
            }
            if !lost.isEmpty {
                // Unless the slot itself lost: another node queued this very slot.
                for try await id in try await connection.query("""
                    INSERT INTO runs (job, trigger, attempt, status, scheduled_at, started_at, finished_at, duration_ms, error, node, epoch)
                    SELECT v.job, v.trigger, 1, 'skipped', v.slot, now(), now(), 0, \(Self.forbidSkip), \(node), \(epoch)
                    FROM unnest(\(lost.map(\.job))::text[], \(lost.map(\.trigger))::text[], \(lost.map(\.slot))::timestamptz[]) AS v (job, trigger, slot)
                    WHERE NOT EXISTS (SELECT 1 FROM runs b WHERE b.job = v.job AND b.scheduled_at = v.slot)
                    ON CONFLICT DO NOTHING
                    RETURNING id
                    """).decode(Int64.self) { skipped.append(id) }
            }
            if !replacing.isEmpty {
                // Only by the node whose insert queued the slot: the others found its row, and
                // by then the run of this very slot may have started.
                skipped += try await Self.replaceEarlierRuns(of: replacing, connection)
            }
            if queued > 0 { _ = try await connection.query("SELECT pg_notify(\(Self.queueChannel), '')") }
            return skipped
        }
        guard !inserted.isEmpty else { return [] }
        return try await runs(ids: inserted).values.sorted { $0.id < $1.id }
    }

    /// Why a `forbid` slot is skipped.
    static let forbidSkip = "skipped: a run of this job is still queued or running (concurrency: forbid)"

    /// `concurrency: replace` across the cluster: the jobs' runs of slots before the new ones
    /// (and their manual runs) are asked to stop on whichever node runs them, woken by
    /// `NOTIFY`, and their queued slots before the new ones are skipped. Returns those skips.
    static func replaceEarlierRuns(of newer: [(job: String, slot: Date)], _ connection: PostgresConnection) async throws -> [Int64] {
        // The queued ones first: one claimed in between is then running, and asked to stop.
        var skipped: [Int64] = []
        for try await id in try await connection.query("""
            UPDATE runs r SET status = 'skipped', finished_at = now(), duration_ms = 0,
                error = 'skipped: a newer slot replaced it (concurrency: replace)'
            FROM unnest(\(newer.map(\.job))::text[], \(newer.map(\.slot))::timestamptz[]) AS n (job, slot)
            WHERE r.job = n.job AND r.status = 'queued' AND r.queue_node IS NULL AND r.scheduled_at < n.slot
            RETURNING r.id
            """).decode(Int64.self) { skipped.append(id) }
        let reason = "replaced by a newer run (concurrency: replace)"
        var holders: Set<String> = []
        for try await holder in try await connection.query("""
            UPDATE runs r SET cancel_requested = \(reason)
            FROM unnest(\(newer.map(\.job))::text[], \(newer.map(\.slot))::timestamptz[]) AS n (job, slot)
            WHERE r.job = n.job AND r.status = 'running' AND r.cancel_requested IS NULL
              AND (r.scheduled_at IS NULL OR r.scheduled_at < n.slot)
            RETURNING r.node
            """).decode(String.self) { holders.insert(holder) }
        try await wakeForCancels(holders, connection)
        return skipped
    }

    package func replaceEarlier(job: String, slot: Date?) async throws -> [RunRecord] {
        guard let slot else {
            // The queued ones first: one claimed in between is then running, and asked to stop.
            let skipped = try await skipQueued(job: job, reason: "skipped: a newer run replaced it (concurrency: replace)", by: nil)
            _ = try await requestCancel(runIDs: [], job: job, reason: "replaced by a newer run (concurrency: replace)", by: nil)
            return skipped
        }
        let skipped = try await call("replace") { connection in try await Self.replaceEarlierRuns(of: [(job, slot)], connection) }
        guard !skipped.isEmpty else { return [] }
        changes.bump()
        return try await runs(ids: skipped).values.sorted { $0.id < $1.id }
    }

    package func queueRun(job: String, node: String, triggeredBy: String?) async throws -> RunRecord {
        defer { changes.bump() }
        let me = self.node
        let epoch = self.epoch
        // The row as inserted: read again, it may already be the claimant's (NOTIFY is quick).
        // Only for a node that is up by the database (not by this node's view of the nodes,
        // which may be a sweep old): a run queued for a node that is down would wait for it.
        let inserted = try await call("queue run") { connection in
            let rows = try await Self.records(try await connection.query("""
                INSERT INTO runs (job, trigger, attempt, status, started_at, triggered_by, node, epoch, queue_node)
                SELECT \(job), 'manual', 1, 'queued', now(), \(triggeredBy), \(me), \(epoch), \(node)
                WHERE EXISTS (SELECT 1 FROM nodes WHERE name = \(node) AND state = 'up' AND lease_until > now())
                RETURNING \(unescaped: Self.runColumns)
                """))
            if !rows.isEmpty { _ = try await connection.query("SELECT pg_notify(\(Self.queueChannel), '')") }
            return rows.first
        }
        guard let inserted else {
            throw APIError(.conflict, "\"\(job)\" runs only on node \(node) (its \"node\"), which is not up: the run was not queued")
        }
        return inserted
    }

    package func claimQueued(limit: Int) async throws -> [RunRecord] {
        guard limit > 0, leaseIsTrusted else { return [] }
        defer { changes.bump() }
        let node = self.node
        let epoch = self.epoch
        // Rows another node is claiming right now are passed over, not waited for; a slot still
        // ahead by the database's clock (a node whose clock runs ahead queued it) waits. The
        // schema's `schedd_claim` does it, oldest first, walking the queue's index.
        return try await call("claim") { connection in
            try await Self.records(try await connection.query("""
                SELECT \(unescaped: Self.runColumns) FROM schedd_claim(\(node), \(epoch), \(Int64(limit)))
                """))
        }.sorted { ($0.scheduledAt ?? $0.startedAt, $0.id) < ($1.scheduledAt ?? $1.startedAt, $1.id) }
    }

    package func slotsTaken(_ slots: [(job: String, slot: Date)]) async throws -> [Bool] {
        // A node whose lease has lapsed starts nothing (`startRuns` refuses at once): not worth a
        // call that a partition would hold up to its deadline, in the engine's turn.
        guard !slots.isEmpty, leaseIsTrusted else { return slots.map { _ in false } }
        // A skip of the slot does not count: the node that skipped it could not run it, and
        // another node still may (the unique key on slots leaves skipped rows out too).
        let taken = try await call("slots taken") { connection in
            var taken: Set<Int> = []
            for try await index in try await connection.query("""
                SELECT s.i::int8 FROM unnest(\(slots.map(\.job))::text[], \(slots.map(\.slot))::timestamptz[]) WITH ORDINALITY AS s (job, slot, i)
                WHERE EXISTS (SELECT 1 FROM runs r WHERE r.job = s.job AND r.scheduled_at = s.slot AND r.status <> 'skipped')
                """).decode(Int64.self) { taken.insert(Int(index) - 1) }
            return taken
        }
        return slots.indices.map { taken.contains($0) }
    }

    /// Gives up on queued runs that can no longer run as they were meant to, and returns them,
    /// now `skipped`: a slot queued for longer than `tolerance` while no node had a free worker
    /// (counted from when it was queued, or from its time if it was queued early: a slot fired
    /// late on purpose, by its job's `jitter`, has the whole tolerance in the queue) is a missed
    /// fire, and follows its job's `catch_up` as a node's own missed fires do
    /// (`none`: skipped; `once`: skipped unless it is the job's newest queued slot; `all`:
    /// kept); a manual run queued for a node that is not up is skipped too. Without this the
    /// queue would grow for as long as the cluster is short of workers.
    public func expireQueued(tolerance: Duration) async throws -> [RunRecord] {
        let seconds = Double(tolerance.milliseconds) / 1000
        let text = DurationText.format(milliseconds: tolerance.milliseconds)
        let expired = try await call("expire queued") { connection in
            try await Self.records(try await connection.query("""
                UPDATE runs r SET status = 'skipped', finished_at = now(), duration_ms = 0, error = e.why
                FROM (SELECT q.id, CASE WHEN q.queue_node IS NOT NULL
                            THEN 'skipped: node ' || q.queue_node || ', the only node this job runs on, is not up'
                            ELSE 'missed: queued for more than ' || \(text) || ' while no node had a free worker (catch_up: '
                                 || coalesce(j.spec::jsonb ->> 'catch_up', 'none') || ')' END AS why
                      FROM runs q LEFT JOIN jobs j ON j.name = q.job
                      WHERE q.status = 'queued' AND CASE
                        WHEN q.queue_node IS NOT NULL THEN NOT EXISTS (
                            SELECT 1 FROM nodes n WHERE n.name = q.queue_node AND n.state = 'up' AND n.lease_until > now())
                        WHEN q.scheduled_at IS NULL OR greatest(q.scheduled_at, q.started_at) >= now() - make_interval(secs => \(seconds)) THEN false
                        WHEN coalesce(j.spec::jsonb ->> 'catch_up', 'none') = 'all' THEN false
                        WHEN coalesce(j.spec::jsonb ->> 'catch_up', 'none') = 'once' THEN EXISTS (
                            SELECT 1 FROM runs n WHERE n.job = q.job AND n.status = 'queued' AND n.scheduled_at > q.scheduled_at)
                        ELSE true END
                      FOR UPDATE OF q SKIP LOCKED) e
                WHERE r.id = e.id AND r.status = 'queued'
                RETURNING \(unescaped: Self.runColumnsOfR)
                """))
        }
        if !expired.isEmpty { changes.bump() }
        return expired.sorted { $0.id < $1.id }
    }

    /// The count is the cluster's, changed in place: a node's view of it is never written back
    /// (`saveStates` leaves it, but for a resume, which clears it).
    package func countRunOutcome(job: String, failed: Bool) async throws -> Int? {
        defer { changes.bump() }
        return try await call("failures") { connection in
            var count: Int?
            // A success with no failures counted (nearly every run) writes nothing: a write per
            // run's end was a row lock and a WAL record each.
            for try await value in try await connection.query("""
                UPDATE job_state SET consecutive_failures = CASE WHEN \(failed) THEN consecutive_failures + 1 ELSE 0 END
                WHERE job = \(job) AND (\(failed) OR consecutive_failures <> 0) RETURNING consecutive_failures
                """).decode(Int32.self) { count = Int(value) }
            return count ?? (failed ? nil : 0)
        }
    }

    // MARK: - Cancels across nodes

    /// The channel a node that asks for a cancel wakes the run's node on (the payload: its name).
    static let cancelChannel = "schedd_cancel"

    package func setRetries(_ marks: [(runID: Int64, due: Date?)]) async throws {
        guard !marks.isEmpty else { return }
        let ids = marks.map(\.runID)
        // Seconds since the epoch, or -1 for none: one array parameter per column.
        let dues = marks.map { $0.due.map { $0.timeIntervalSince1970 } ?? -1 }
        let node = self.node
        // The node that marks a retry runs it (it may be taking over a lost run of another).
        try await call("retry") { connection in
            try await connection.query("""
                UPDATE runs r SET retry_at = CASE WHEN v.due < 0 THEN NULL ELSE to_timestamp(v.due) END,
                    retry_node = CASE WHEN v.due < 0 THEN NULL ELSE \(node) END
                FROM unnest(\(ids)::bigint[], \(dues)::float8[]) AS v(id, due) WHERE r.id = v.id
                """)
        }
    }

    package func setRetry(runID: Int64, due: Date, onNode node: String) async throws {
        let seconds = due.timeIntervalSince1970
        try await call("retry") { connection in
            try await connection.query("UPDATE runs SET retry_at = to_timestamp(\(seconds)), retry_node = \(node) WHERE id = \(runID)")
        }
    }

    package func pendingRetries() async throws -> [(run: RunRecord, due: Date)] {
        let node = self.node
        return try await call("retries") { connection in
            var dues: [Int64: Date] = [:]
            for try await (id, due) in try await connection.query("""
                SELECT id, retry_at FROM runs r
                WHERE coalesce(retry_node, node) = \(node) AND \(unescaped: RetryMarkSQL.pending)
                """).decode((Int64, Date).self) {
                dues[id] = Self.ms(due)
            }
            guard !dues.isEmpty else { return [] }
            let ids = Array(dues.keys)
            let runs = try await Self.records(try await connection.query("""
                SELECT \(unescaped: Self.runColumnsWithoutOutput) FROM runs WHERE id = ANY(\(ids)) ORDER BY id
                """))
            return runs.compactMap { run in dues[run.id].map { (run: run, due: $0) } }
        }
    }

    /// The mark names the node that applies the final result: this one (a node that takes
    /// the marks of a node that left over renames them).
    package func setPoliciesPending(_ runIDs: [Int64], _ pending: Bool) async throws {
        guard !runIDs.isEmpty else { return }
        let holder = pending ? node : nil
        try await call("policy") { connection in
            try await connection.query("UPDATE runs SET policy_pending = \(holder) WHERE id = ANY(\(runIDs))")
        }
    }

    package func pendingPolicies() async throws -> [RunRecord] {
        let node = self.node
        return try await call("policies") { connection in
            try await Self.records(try await connection.query("""
                SELECT \(unescaped: Self.runColumnsWithoutOutput) FROM runs WHERE policy_pending = \(node) ORDER BY id
                """))
        }
    }

    package func requestCancel(runIDs: [Int64], job: String?, reason: String, by caller: String?) async throws -> [Int64] {
        let node = self.node
        return try await call("cancel") { connection in
            var asked: [Int64] = []
            var nodes: Set<String> = []
            for try await (id, holder) in try await connection.query("""
                UPDATE runs SET cancel_requested = \(reason), cancel_requested_by = \(caller)
                WHERE status = 'running' AND node <> \(node) AND (id = ANY(\(runIDs)) OR (\(job)::text IS NOT NULL AND job = \(job)))
                RETURNING id, node
                """).decode((Int64, String).self) {
                asked.append(id)
                nodes.insert(holder)
            }
            try await Self.wakeForCancels(nodes, connection)
            return asked.sorted()
        }
    }

    package func skipRetriesElsewhere(runIDs: [Int64], job: String?, reason: String, by caller: String?) async throws -> [RunRecord] {
        defer { changes.bump() }
        let node = self.node
        let epoch = self.epoch
        // The skip's row is the retry's one row (`runs_retry_of` is unique): the node that
        // holds the retry is refused its start, whichever of the two writes comes first.
        return try await call("skip retries") { connection in
            try await Self.records(try await connection.query("""
                WITH pending AS (
                    SELECT r.id, r.job, r.attempt, r.scheduled_at, r.triggered_by, r.triggered_by_run FROM runs r
                    WHERE coalesce(r.retry_node, r.node) <> \(node) AND \(unescaped: RetryMarkSQL.pending)
                      AND (r.id = ANY(\(runIDs)) OR (\(job)::text IS NOT NULL AND r.job = \(job)))
                ), skipped AS (
                    INSERT INTO runs (job, trigger, attempt, status, scheduled_at, started_at, finished_at, duration_ms, error, triggered_by,
                                      triggered_by_run, retry_of, node, epoch)
                    SELECT p.job, 'retry', p.attempt + 1, 'skipped', p.scheduled_at, now(), now(), 0, \(reason), p.triggered_by,
                           p.triggered_by_run, p.id, \(node), \(epoch)
                    FROM pending p ORDER BY p.id
                    ON CONFLICT DO NOTHING
                    RETURNING \(unescaped: Self.runColumns)
                ), cleared AS (
                    UPDATE runs SET retry_at = NULL WHERE id IN (SELECT retry_of FROM skipped)
                )
                SELECT \(unescaped: Self.runColumns) FROM skipped ORDER BY id
                """))
        }
    }

    package func retriesElsewhere(job: String) async throws -> [RetryStatus] {
        let node = self.node
        return try await call("retries") { connection in
            var retries: [RetryStatus] = []
            for try await (id, attempt, due, holder) in try await connection.query("""
                SELECT r.id, r.attempt, r.retry_at, coalesce(r.retry_node, r.node) FROM runs r
                WHERE r.job = \(job) AND coalesce(r.retry_node, r.node) <> \(node) AND \(unescaped: RetryMarkSQL.pending)
                ORDER BY r.retry_at, r.id
                """).decode((Int64, Int, Date, String).self) {
                retries.append(RetryStatus(attempt: attempt + 1, dueAt: Self.ms(due), retryOf: id, node: holder))
            }
            return retries
        }
    }

    package func skipQueued(job: String, reason: String, by caller: String?) async throws -> [RunRecord] {
        // A row a node is claiming right now is passed over: it is that node's running run,
        // which the cancel asked of the nodes reaches.
        let skipped = try await call("skip queued") { connection in
            try await Self.records(try await connection.query("""
                UPDATE runs r SET status = 'skipped', finished_at = now(), duration_ms = 0, error = \(reason), cancelled_by = \(caller)
                FROM (SELECT q.id FROM runs q WHERE q.job = \(job) AND q.status = 'queued' FOR UPDATE OF q SKIP LOCKED) e
                WHERE r.id = e.id AND r.status = 'queued'
                RETURNING \(unescaped: Self.runColumnsOfR)
                """))
        }
        if !skipped.isEmpty { changes.bump() }
        return skipped.sorted { $0.id < $1.id }
    }

    /// Wakes the nodes holding runs asked to cancel (each `LISTEN`s for its own name).
    static func wakeForCancels(_ holders: Set<String>, _ connection: PostgresConnection) async throws {
        for holder in holders.sorted() {
            _ = try await connection.query("SELECT pg_notify(\(Self.cancelChannel), \(holder))")
        }
    }

    package var carriesServiceCommands: Bool { true }

    package func askService(_ job: String, _ action: ServiceCommand.Action, of holder: String, by caller: String?) async throws -> Int64 {
        let node = self.node
        return try await call("ask service") { connection in
            var id: Int64 = 0
            for try await value in try await connection.query("""
                INSERT INTO service_commands (job, node, action, requested_by, asked_on)
                VALUES (\(job), \(holder), \(action.rawValue), \(caller), \(node)) RETURNING id
                """).decode(Int64.self) { id = value }
            try await Self.wakeForCancels([holder], connection)
            return id
        }
    }

    package func serviceAnswer(_ id: Int64) async throws -> ServiceCommand.Answer? {
        try await call("service answer") { connection in
            var answer: ServiceCommand.Answer?
            for try await (state, reason, error) in try await connection.query("""
                DELETE FROM service_commands WHERE id = \(id) AND answered_at IS NOT NULL RETURNING answer_state, answer_reason, answer_error
                """).decode((String?, String?, String?).self) {
                answer = ServiceCommand.Answer(state: state, reason: reason, error: error)
            }
            return answer
        }
    }

    package func withdrawServiceAsk(_ id: Int64) async throws -> Bool {
        try await call("withdraw service ask") { connection in
            var withdrawn = false
            for try await _ in try await connection.query("""
                DELETE FROM service_commands WHERE id = \(id) AND taken_at IS NULL RETURNING id
                """).decode(Int64.self) { withdrawn = true }
            return withdrawn
        }
    }

    package func serviceCommands() async throws -> [ServiceCommand] {
        let node = self.node
        return try await call("service commands") { connection in
            // An ask whose node never answered, or whose asking node never came for the answer.
            _ = try await connection.query("DELETE FROM service_commands WHERE requested_at < now() - interval '1 minute'")
            var commands: [ServiceCommand] = []
            for try await (id, job, action, by, askedOn) in try await connection.query("""
                UPDATE service_commands SET taken_at = now() WHERE node = \(node) AND taken_at IS NULL
                RETURNING id, job, action, requested_by, asked_on
                """).decode((Int64, String, String, String?, String).self) {
                guard let action = ServiceCommand.Action(rawValue: action) else { continue }
                commands.append(ServiceCommand(id: id, job: job, action: action, by: by, askedOn: askedOn))
            }
            return commands.sorted { $0.id < $1.id }
        }
    }

    package func answerServiceCommand(_ id: Int64, _ answer: ServiceCommand.Answer) async throws {
        try await call("answer service command") { connection in
            _ = try await connection.query("""
                UPDATE service_commands SET answer_state = \(answer.state), answer_reason = \(answer.reason), answer_error = \(answer.error),
                    answered_at = now()
                WHERE id = \(id)
                """)
        }
    }

    package func cancelRequests() async throws -> [CancelRequest] {
        let node = self.node
        let epoch = self.epoch
        return try await call("cancels") { connection in
            var requests: [CancelRequest] = []
            for try await (id, reason, by) in try await connection.query("""
                SELECT id, cancel_requested, cancel_requested_by FROM runs
                WHERE status = 'running' AND node = \(node) AND epoch = \(epoch) AND cancel_requested IS NOT NULL
                """).decode((Int64, String, String?).self) {
                requests.append(CancelRequest(runID: id, reason: reason, by: by))
            }
            return requests
        }
    }

    package func recordSkipped(_ skips: [RunSkip]) async throws -> [RunRecord] {
        guard !skips.isEmpty else { return [] }
        defer { changes.bump() }
        let node = self.node
        let epoch = self.epoch
        let jobs = skips.map(\.job)
        let triggers = skips.map(\.trigger.rawValue)
        let hasSlot = skips.map { $0.scheduledAt != nil }
        let slots = skips.map { $0.scheduledAt ?? $0.at }
        let times = skips.map(\.at)
        let reasons = skips.map(\.reason)
        let triggeredBy = skips.map { $0.triggeredBy ?? "" }
        let byRun = skips.map { $0.triggeredByRun ?? -1 }
        let missedNodes = skips.map { $0.missedNode ?? "" }
        let attempts = skips.map { Int64($0.attempt) }
        let retryOf = skips.map { $0.retryOf ?? -1 }
        // One statement for the turn's skips. A slot another node has run, or recorded as
        // skipped, is not recorded again here: every node fires every slot, and a busy node's
        // skip is no news once any node has a row for it. (A retry of the slot is its own:
        // the attempts differ.) A skip takes no slot: a node that
        // could not run it (its previous run still going or waiting for a worker) must not
        // keep another node from running it.
        return try await uncancelled { try await self.call("skips") { connection in
            try await Self.records(try await connection.query("""
                INSERT INTO runs (job, trigger, attempt, status, scheduled_at, started_at, finished_at, duration_ms, error, triggered_by,
                                  triggered_by_run, retry_of, node, epoch)
                SELECT v.job, v.trigger, v.attempt, 'skipped', CASE WHEN v.has_slot THEN v.slot END, v.at, v.at, 0, v.reason, nullif(v.by, ''),
                       nullif(v.by_run, -1), nullif(v.retry_of, -1), \(node), \(epoch)
                FROM unnest(\(jobs)::text[], \(triggers)::text[], \(hasSlot)::bool[], \(slots)::timestamptz[], \(times)::timestamptz[],
                            \(reasons)::text[], \(triggeredBy)::text[], \(byRun)::int8[], \(missedNodes)::text[], \(attempts)::int8[],
                            \(retryOf)::int8[])
                     WITH ORDINALITY AS v (job, trigger, has_slot, slot, at, reason, by, by_run, missed_node, attempt, retry_of, ord)
                WHERE (NOT v.has_slot OR NOT EXISTS (SELECT 1 FROM runs r WHERE r.job = v.job AND r.scheduled_at = v.slot AND r.attempt = v.attempt))
                  AND (v.missed_node = '' OR NOT EXISTS (
                      SELECT 1 FROM nodes n WHERE n.name = v.missed_node AND n.state = 'up' AND n.lease_until > now()))
                ORDER BY v.ord
                ON CONFLICT DO NOTHING
                RETURNING \(unescaped: Self.runColumns)
                """))
        } }
    }

    /// Rows deleted per statement while pruning: each statement stays well within the
    /// connection's statement_timeout, however much history there is.
    static let pruneBatch = 2_000

    package func pruneHistory(keepPerJob: Int?, olderThan: Date?) async throws -> Int {
        defer { changes.bump() }
        let batch = Self.pruneBatch
        var deleted = 0
        if let keep = keepPerJob {
            // Only the jobs over the limit; then, per job, everything finished below the oldest
            // run to keep.
            let jobs: [String] = try await call("prune") { connection in
                var jobs: [String] = []
                for try await job in try await connection.query("SELECT job FROM runs GROUP BY job HAVING count(*) > \(keep)").decode(String.self) {
                    jobs.append(job)
                }
                return jobs
            }
            for job in jobs {
                deleted += try await deleteInBatches { """
                    DELETE FROM runs WHERE id IN (
                        SELECT id FROM runs r WHERE job = \(job) AND status <> 'running' AND \(unescaped: RetryMarkSQL.prunable)
                          AND (\(keep) = 0 OR id < (SELECT id FROM runs WHERE job = \(job) ORDER BY id DESC OFFSET \(max(0, keep - 1)) LIMIT 1))
                        LIMIT \(batch))
                    RETURNING 1
                    """ }
            }
        }
        if let olderThan {
            deleted += try await deleteInBatches { """
                DELETE FROM runs WHERE id IN (SELECT id FROM runs r WHERE started_at < \(olderThan) AND status <> 'running' AND \(unescaped: RetryMarkSQL.prunable) LIMIT \(batch))
                RETURNING 1
                """ }
        }
        return deleted
    }

    /// Runs a `DELETE … RETURNING 1` of at most `pruneBatch` rows until one deletes fewer;
    /// returns how many went.
    func deleteInBatches(_ statement: @escaping @Sendable () -> PostgresQuery) async throws -> Int {
        var total = 0
        while true {
            let count = try await call("prune") { connection in
                var count = 0
                for try await _ in try await connection.query(statement()) { count += 1 }
                return count
            }
            total += count
            if count < Self.pruneBatch { return total }
        }
    }
}
