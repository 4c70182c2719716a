import Foundation
import GRDB
import SchedulerAPI
import Synchronization

/// Job definitions and their state (`jobs`, `job_state`).
public struct JobStore: Sendable {
    let pool: DatabasePool
    let committer: GroupCommitter
    let changes: ChangeCounter

    /// Applies a validated job file in one transaction: creates and updates its jobs and, with
    /// `prune`, removes jobs that are not in it (`JobChangePlan` has the rules). Either all of
    /// it is written or nothing is. With `dryRun` it only reports what it would do.
    ///
    /// The file was validated against a snapshot of the jobs; the references are checked again
    /// here, inside the write transaction, against what the database holds now.
    ///
    /// `source` (a file's bytes and what it was validated against) is recorded with a pruning
    /// apply, for `unchangedJobs(since:)`.
    func apply(_ file: JobFile, prune: Bool = false, dryRun: Bool = false, now: Date = Date(), source: Data? = nil,
               origin: JobOrigin = .api(), protectedFile: String? = nil) async throws -> ApplyResult {
        do {
            return try await changes.write(pool) { db in
                let plan = try JobChangePlan(file: file, existing: try Self.specTexts(db), owners: try Self.owners(db), prune: prune,
                                             dryRun: dryRun, origin: origin, protectedFile: protectedFile)
                let result = plan.result
                let texts = plan.texts
                if dryRun { return result }

                let stamp = Timestamp.format(now)
                let unchanged = Set(result.unchanged)
                // What is read back next (the engine's reload right after) is then found decoded.
                Self.specCache.insert(file.jobs.compactMap { spec in texts[spec.name].map { (text: $0, value: spec) } })
                for spec in file.jobs where !unchanged.contains(spec.name) {
                    try db.execute(sql: """
                        INSERT INTO jobs (name, spec, enabled, created_at, updated_at, origin, origin_detail, created_by, changed_by)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, enabled = excluded.enabled,
                            updated_at = excluded.updated_at, origin = excluded.origin, origin_detail = excluded.origin_detail,
                            changed_by = excluded.changed_by
                        """, arguments: [spec.name, texts[spec.name], spec.isEnabled, stamp, stamp, origin.kind.rawValue, origin.detail,
                                         origin.actor, origin.actor])
                    try db.execute(sql: "INSERT OR IGNORE INTO job_state (job) VALUES (?)", arguments: [spec.name])
                }
                for name in plan.ownerChanges {
                    try db.execute(sql: "UPDATE jobs SET origin = ?, origin_detail = ? WHERE name = ?",
                                   arguments: [origin.kind.rawValue, origin.detail, name])
                }
                for name in result.removed {
                    try db.execute(sql: "DELETE FROM jobs WHERE name = ?", arguments: [name])
                }
                if let source, prune {
                    // After the writes, so that the generation recorded includes them.
                    try db.execute(sql: """
                        INSERT OR REPLACE INTO meta (key, value) VALUES ('applied_source', ?),
                            ('applied_generation', (SELECT value FROM meta WHERE key = 'jobs_generation'))
                        """, arguments: [source])
                }
                return result
            }
        } catch {
            throw storeError(error)
        }
    }

    /// The names of the jobs if `source` is what the last pruning apply wrote and no job has
    /// changed since (by schedd or by hand); nil otherwise.
    public func unchangedJobs(since source: Data) async throws -> [String]? {
        do {
            return try await pool.read { db in
                guard let applied = try Data.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'applied_source'"),
                      applied == source,
                      let generation = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'applied_generation'"),
                      generation == (try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'jobs_generation'")) else {
                    return nil
                }
                // The file's jobs, as the full apply reports them: not those of the API.
                return try String.fetchAll(db, sql: "SELECT name FROM jobs WHERE origin = 'file' ORDER BY name")
            }
        } catch {
            throw storeError(error)
        }
    }

    /// Creates or replaces one job, with the same reference checks as `apply`.
    @discardableResult
    func put(_ spec: JobSpec, now: Date = Date()) async throws -> ApplyResult {
        try await apply(JobFile(jobs: [spec]), now: now)
    }

    /// Deletes a job and its state; its run history stays. Refused while another job names it
    /// in `on_failure`/`on_success`, and, with `protectedFile`, when the file owns it.
    func remove(named name: String, protectedFile: String? = nil) async throws {
        do {
            try await changes.write(pool) { db in
                try JobChangePlan.checkRemoval(of: name, owner: try Self.owners(db, name: name)[name], specs: try Self.specs(db),
                                               protectedFile: protectedFile)
                try db.execute(sql: "DELETE FROM jobs WHERE name = ?", arguments: [name])
            }
        } catch {
            throw storeError(error)
        }
    }

    /// Every job, by name.
    public func all() async throws -> [JobInfo] {
        do {
            return try await pool.read { db in try Self.fetchInfos(db, filter: nil) }
        } catch {
            throw storeError(error)
        }
    }

    /// How many jobs are in each state (`JobSummary.state(of:)`), counted by SQLite: `status`
    /// needs no definition decoded, which with 10,000 jobs is most of a cold start's work.
    public func stateCounts() async throws -> StatusResponse.Jobs {
        do {
            return try await pool.read { db in
                let row = try Row.fetchOne(db, sql: """
                    SELECT count(*),
                        total(NOT coalesce(s.paused, 0) AND j.enabled),
                        total(coalesce(s.paused, 0) AND coalesce(s.pause_reason, '') != 'restart_limit'),
                        total(coalesce(s.paused, 0) AND s.pause_reason = 'restart_limit'),
                        total(NOT coalesce(s.paused, 0) AND NOT j.enabled)
                    FROM jobs j LEFT JOIN job_state s ON s.job = j.name
                    """)
                func count(_ i: Int) -> Int { row?.int(i) ?? 0 }
                let problems = try Row.fetchAll(db, sql: """
                    SELECT job, pause_reason FROM job_state
                    WHERE paused AND pause_reason IN ('restart_limit', 'failure_threshold') ORDER BY job
                    """).map { row -> StatusResponse.Problem in
                    let reason = row.text(1) ?? ""
                    return StatusResponse.Problem(job: row.text(0) ?? "", state: reason == "restart_limit" ? "failed" : "paused", reason: reason)
                }
                return StatusResponse.Jobs(total: row?.int(0) ?? 0, active: count(1), paused: count(2), failed: count(3), disabled: count(4),
                                           problems: problems)
            }
        } catch {
            throw storeError(error)
        }
    }

    /// One job, or nil.
    public func job(named name: String) async throws -> JobInfo? {
        do {
            return try await pool.read { db in try Self.fetchInfos(db, filter: name).first }
        } catch {
            throw storeError(error)
        }
    }

    /// The names of every job.
    public func names() async throws -> Set<String> {
        do {
            return try await pool.read { db in Set(try String.fetchAll(db, sql: "SELECT name FROM jobs")) }
        } catch {
            throw storeError(error)
        }
    }

    /// The jobs a pruning apply by `origin` leaves in place whatever its file says: those a
    /// file may refer to without naming them.
    public func names(keptByPruneOf origin: JobOrigin.Kind, protectedFile: String? = nil) async throws -> Set<String> {
        do {
            return try await pool.read { db in
                Set(try Self.owners(db).filter { !JobChangePlan.prunes($0.value.kind, by: origin, protectedFile: protectedFile) }.keys)
            }
        } catch {
            throw storeError(error)
        }
    }

    /// Pauses a job (`reason` says why: `manual`, `failure_threshold`, `restart_limit`), or
    /// resumes it; resuming also clears the count of consecutive failures. Not public: the
    /// engine owns job state (its memory is what it writes back), so a pause from outside must
    /// go through `JobScheduler.pauseJob`; tests use this to set up a database.
    func setPaused(_ name: String, paused: Bool, reason: String? = "manual") async throws {
        do {
            try await changes.write(pool) { db in
                if paused {
                    try db.execute(sql: "UPDATE job_state SET paused = 1, pause_reason = ? WHERE job = ?", arguments: [reason, name])
                } else {
                    try db.execute(sql: "UPDATE job_state SET paused = 0, pause_reason = NULL, consecutive_failures = 0 WHERE job = ?",
                                   arguments: [name])
                }
                if db.changesCount == 0 { throw APIError(.notFound, "no job named \"\(name)\"") }
            }
        } catch {
            throw storeError(error)
        }
    }

    /// Writes the engine's view of a job's state.
    func saveState(_ name: String, _ state: JobState) async throws {
        try await saveStates([(name, state)])
    }

    /// Writes the state of many jobs in one transaction (one fsync): when 200 jobs fire in the
    /// same second, or 10,000 are loaded at start.
    func saveStates(_ states: [(name: String, state: JobState)]) async throws {
        guard !states.isEmpty else { return }
        do {
            try await committer.write { db in try Self.update(states, db) }
        } catch {
            throw storeError(error)
        }
    }

    /// Queues the states' write ahead of every write submitted after it, without waiting: the
    /// engine records its fires this way and then starts their runs, whose start rows are
    /// committed with the states or after them.
    func queueStates(_ states: [(name: String, state: JobState)]) -> StoreWrite? {
        guard !states.isEmpty else { return nil }
        return committer.queue { db in try Self.update(states, db) }
    }

    /// Bound through SQLite's C API (`BoundStatement`): the engine writes every fire's state
    /// this way, 10,000 rows a second for 10,000 jobs `@every 1s`.
    static func update(_ states: [(name: String, state: JobState)], _ db: Database) throws {
        let statement = BoundStatement(try db.cachedStatement(sql: """
            UPDATE job_state SET paused = ?, pause_reason = ?, consecutive_failures = ?,
                last_run_id = ?, next_run_at = ?, last_fire_at = ?
            WHERE job = ?
            """), db)
        for (name, state) in states {
            statement.bind(1, state.paused)
            statement.bind(2, state.pauseReason)
            statement.bind(3, state.consecutiveFailures)
            statement.bind(4, state.lastRunID)
            statement.bind(5, state.nextRunAt.map(Timestamp.format))
            statement.bind(6, state.lastFireAt.map(Timestamp.format))
            statement.bind(7, name)
            try statement.execute()
        }
    }

    // MARK: - Helpers (run on the database's queue)

    static func owners(_ db: Database, name: String? = nil) throws -> [String: JobOrigin] {
        var owners: [String: JobOrigin] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT name, origin, origin_detail FROM jobs WHERE ?1 IS NULL OR name = ?1", arguments: [name]) {
            owners[row.text(0) ?? ""] = JobOrigin(kind: row.text(1).flatMap(JobOrigin.Kind.init(rawValue:)) ?? .api, detail: row.text(2))
        }
        return owners
    }

    static func specTexts(_ db: Database) throws -> [String: String] {
        var texts: [String: String] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT name, spec FROM jobs") {
            texts[row.text(0) ?? ""] = row.text(1) ?? ""
        }
        return texts
    }

    /// Decoded specs by their stored text. The text is canonical, so equal text is an equal
    /// spec; listing 1,000 jobs then costs no re-validation (measured: 42 ms → see
    /// docs/performance.md).
    package static let specCache = TextKeyedCache<JobSpec>(limit: 20_000)

    package static func decodeSpec(_ text: String, name: String) throws -> JobSpec {
        try decodeSharedSpec(text, name: name).value
    }

    /// The decoded definition as the cache keeps it, for a holder that keeps it too.
    package static func decodeSharedSpec(_ text: String, name: String) throws -> SharedValue<JobSpec> {
        if let cached = specCache.shared(text) { return cached }
        let spec: JobSpec
        do {
            spec = try JobSpec(json: try JSONParser.parse(text), context: .stored)
        } catch {
            // One line: it is shown as the job's state in `list` and `status`.
            let why = "\(error)".split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: "; ")
            throw APIError(.internal, "the stored definition of job \"\(name)\" is unreadable: \(why)")
        }
        return specCache.insert(spec, for: text)
    }

    static func specs(_ db: Database) throws -> [JobSpec] {
        try specTexts(db).map { try decodeSpec($0.value, name: $0.key) }
    }

    static func fetchInfos(_ db: Database, filter: String?) throws -> [JobInfo] {
        // Row by row from a cursor: every row copied at once (fetchAll) held each definition's
        // text twice more at the peak, ~5 MiB for 10,000 jobs, which an idle daemon kept as
        // freed heap.
        let count = filter == nil ? try Int.fetchOne(db, sql: "SELECT count(*) FROM jobs") ?? 0 : 1
        let rows = try Row.fetchCursor(db, sql: """
            SELECT j.name, j.spec, j.created_at, j.updated_at, s.paused, s.pause_reason, s.consecutive_failures,
                   s.last_run_id, s.next_run_at, s.last_fire_at, j.origin, j.origin_detail, j.created_by, j.changed_by
            FROM jobs j LEFT JOIN job_state s ON s.job = j.name
            WHERE ?1 IS NULL OR j.name = ?1 ORDER BY j.name
            """, arguments: [filter])
        specCache.reserve(count)
        var current: [(text: String, value: SharedValue<JobSpec>)] = []
        if filter == nil { current.reserveCapacity(count) }
        var infos: [JobInfo] = []
        infos.reserveCapacity(count)
        // Columns by position, in the order of the SELECT: by name, each read is a
        // case-insensitive search (a fifth of the start-up time with 10,000 jobs).
        while let row = try rows.next() {
            let name = row.text(0) ?? ""
            let state = JobState(
                paused: row.flag(4) ?? false, pauseReason: row.text(5),
                consecutiveFailures: row.int(6) ?? 0, lastRunID: row.integer(7),
                nextRunAt: row.date(8), lastFireAt: row.date(9))
            // One unreadable definition must not hide every other job (the engine would load
            // none): it comes back as a disabled stand-in that says what is wrong.
            let spec: SharedValue<JobSpec>
            var problem: String?
            do {
                let text = row.text(1) ?? ""
                spec = try decodeSharedSpec(text, name: name)
                if filter == nil { current.append((text, spec)) }
            } catch {
                var standIn = JobSpec(name: name, action: .shell("false"))
                standIn.enabled = false
                spec = SharedValue(standIn)
                problem = (error as? APIError)?.message ?? "\(error)"
            }
            infos.append(JobInfo(
                sharedSpec: spec,
                createdAt: row.date(2) ?? Date(timeIntervalSince1970: 0),
                updatedAt: row.date(3) ?? Date(timeIntervalSince1970: 0),
                state: state,
                origin: JobOrigin(kind: row.text(10).flatMap(JobOrigin.Kind.init(rawValue:)) ?? .api, detail: row.text(11)),
                problem: problem, createdBy: row.text(12), changedBy: row.text(13)))
        }
        // Every job was read: texts no job has any more need not stay decoded.
        if filter == nil { specCache.keepOnly(current) }
        return infos
    }
}
