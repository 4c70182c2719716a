import Foundation
import GRDB
import SchedulerAPI

/// Run history (`runs`): one row per run, from `running` to its final status.
public struct RunStore: Sendable {
    let pool: DatabasePool
    /// A run's start and end are written through group commit: under load, many runs share
    /// one transaction (and one fsync), and each is durable before its write returns.
    let committer: GroupCommitter
    let changes: ChangeCounter

    /// Rows deleted per transaction while pruning, so that dispatch never waits long on the
    /// write lock.
    static let pruneBatch = 2_000

    /// Records that a run started; the row is on disk when this returns.
    func start(job: String, trigger: RunTrigger, attempt: Int = 1, scheduledAt: Date?, startedAt: Date, pid: Int32? = nil) async throws -> RunRecord {
        let record = RunRecord(id: 0, job: job, trigger: trigger, attempt: attempt, status: .running,
                               scheduledAt: scheduledAt, startedAt: startedAt, pid: pid)
        return try await insert([record])[0]
    }

    /// Records triggers that did not start a run (`concurrency: forbid` while one was active),
    /// final at once, in one transaction: a second in which
    /// thousands of jobs find their last run still busy costs one write, not thousands.
    func recordSkipped(_ skips: [RunSkip]) async throws -> [RunRecord] {
        guard !skips.isEmpty else { return [] }
        let records = skips.map { $0.record(id: 0) }
        do {
            return try await committer.write { db in try Self.insert(records, db) }
        } catch {
            throw storeError(error)
        }
    }

    /// Inserts rows in one transaction.
    func insert(_ records: [RunRecord]) async throws -> [RunRecord] {
        do {
            return try await committer.write { db in try Self.insert(records, db) }
        } catch {
            throw storeError(error)
        }
    }

    /// Inserts rows, and sets each job's last run once (many runs of one job in a batch
    /// write its `job_state` row once).
    static func insert(_ records: [RunRecord], _ db: Database) throws -> [RunRecord] {
        // Cached statements: these run for every run, and preparing them is most of their cost.
        let statement = BoundStatement(try db.cachedStatement(sql: """
            INSERT INTO runs (job, trigger, attempt, status, scheduled_at, started_at, finished_at, duration_ms, pid, error, triggered_by,
                              triggered_by_run, retry_of)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """), db)
        var lastRun: [String: Int64] = [:]
        let stored = try records.map { record in
            statement.bind(1, record.job)
            statement.bind(2, record.trigger.rawValue)
            statement.bind(3, record.attempt)
            statement.bind(4, record.status.rawValue)
            statement.bind(5, record.scheduledAt.map(Timestamp.format))
            statement.bind(6, Timestamp.format(record.startedAt))
            statement.bind(7, record.finishedAt.map(Timestamp.format))
            statement.bind(8, record.durationMs)
            statement.bind(9, record.pid)
            statement.bind(10, record.error)
            statement.bind(11, record.triggeredBy)
            statement.bind(12, record.triggeredByRun)
            statement.bind(13, record.retryOf)
            try statement.execute()
            var stored = record
            stored.id = db.lastInsertedRowID
            lastRun[record.job] = stored.id
            return stored
        }
        let setLast = BoundStatement(try db.cachedStatement(sql: "UPDATE job_state SET last_run_id = ? WHERE job = ?"), db)
        for (job, id) in lastRun {
            setLast.bind(1, id)
            setLast.bind(2, job)
            try setLast.execute()
        }
        return stored
    }

    /// Sets the pid of a running run once its process exists.
    func setPID(_ id: Int64, pid: Int32) async throws {
        do {
            try await changes.write(pool) { db in
                try db.execute(sql: "UPDATE runs SET pid = ? WHERE id = ?", arguments: [pid, id])
            }
        } catch {
            throw storeError(error)
        }
    }

    /// Writes a run's final status. Only a `running` row is changed, so a run can never be
    /// finished twice; returns the final record, or nil when the row was not running.
    @discardableResult
    func finish(_ run: RunRecord, _ outcome: RunOutcome) async throws -> RunRecord? {
        try await finish([(run: run, outcome: outcome)])[0]
    }

    /// The same for many runs, in one transaction.
    func finish(_ ends: [(run: RunRecord, outcome: RunOutcome)]) async throws -> [RunRecord?] {
        precondition(ends.allSatisfy { $0.outcome.status.isFinal }, "finish needs a final status")
        do {
            return try await committer.write { db in try ends.map { try Self.finish($0.run, $0.outcome, db) } }
        } catch {
            throw storeError(error)
        }
    }

    /// Ends of some runs and starts of others in one transaction (a turn of the engine's):
    /// the worker an end freed then waits for one commit before its next run, not two.
    func finishAndInsert(_ ends: [(run: RunRecord, outcome: RunOutcome)], _ records: [RunRecord]) async
        -> (ends: Result<[RunRecord?], any Error>, starts: Result<[RunRecord], any Error>) {
        precondition(ends.allSatisfy { $0.outcome.status.isFinal }, "finish needs a final status")
        let (finished, inserted) = await committer.write({ db in try ends.map { try Self.finish($0.run, $0.outcome, db) } },
                                                         { db in try Self.insert(records, db) })
        return (finished.mapError(storeError), inserted.mapError(storeError))
    }

    /// The final record is the started one with the outcome applied, as written: reading the
    /// row back (`RETURNING` every column) was the larger part of a run's cost to the writer.
    static func finish(_ run: RunRecord, _ outcome: RunOutcome, _ db: Database) throws -> RunRecord? {
        let final = outcome.storable.applied(to: run)
        let statement = BoundStatement(try db.cachedStatement(sql: """
            UPDATE runs SET status = ?, finished_at = ?, duration_ms = ?, exit_code = ?, signal = ?, output = ?, output_truncated = ?,
                output_streams = ?, error = ?, pid = coalesce(?, pid), cpu_ms = ?, cancelled_by = ?, retry_at = ?, policy_pending = ?
            WHERE id = ? AND status = 'running'
            """), db)
        statement.bind(1, final.status.rawValue)
        statement.bind(2, final.finishedAt.map(Timestamp.format))
        statement.bind(3, final.durationMs)
        statement.bind(4, final.exitCode)
        statement.bind(5, final.signal)
        statement.bind(6, final.output)
        statement.bind(7, final.outputTruncated)
        statement.bind(8, final.outputStreams.map(OutputSegment.encode))
        statement.bind(9, final.error)
        statement.bind(10, final.pid)
        statement.bind(11, final.cpuMs)
        statement.bind(12, final.cancelledBy)
        statement.bind(13, outcome.retryAt.map(Timestamp.format))
        statement.bind(14, outcome.leavesFinalResult ? 1 : nil)
        statement.bind(15, run.id)
        try statement.execute()
        guard db.changesCount > 0 else { return nil }
        return final
    }

    /// Sets or clears runs' `retry_at`, through the group commit: queued after the run's end,
    /// so never committed before it.
    func setRetries(_ marks: [(runID: Int64, due: Date?)]) async throws {
        guard !marks.isEmpty else { return }
        do {
            try await committer.write { db in
                let statement = BoundStatement(try db.cachedStatement(sql: "UPDATE runs SET retry_at = ? WHERE id = ?"), db)
                for (id, due) in marks {
                    statement.bind(1, due.map(Timestamp.format))
                    statement.bind(2, id)
                    try statement.execute()
                }
            }
        } catch {
            throw storeError(error)
        }
    }

    /// Marks runs whose final result waits for the next start (`policy_pending`), or clears
    /// the marks once it is applied; through the group commit, after the runs' ends.
    func setPoliciesPending(_ runIDs: [Int64], _ pending: Bool) async throws {
        guard !runIDs.isEmpty else { return }
        do {
            try await committer.write { db in
                let statement = BoundStatement(try db.cachedStatement(sql: "UPDATE runs SET policy_pending = ? WHERE id = ?"), db)
                for id in runIDs {
                    statement.bind(1, pending ? Int64(1) : nil)
                    statement.bind(2, id)
                    try statement.execute()
                }
            }
        } catch {
            throw storeError(error)
        }
    }

    /// The runs whose final result waits for this start, oldest first.
    func pendingPolicies() async throws -> [RunRecord] {
        do {
            return try await pool.read { db in
                try Self.fetch(db, where: "policy_pending IS NOT NULL", [], limit: nil, withOutput: false).reversed()
            }
        } catch {
            throw storeError(error)
        }
    }

    /// The runs whose retry is marked and has not started. A mark left by a crash between the
    /// retry's start and the clearing of its mark is not a pending retry: the retry's row is
    /// there.
    func pendingRetries() async throws -> [(run: RunRecord, due: Date)] {
        do {
            return try await pool.read { db in
                let runs = try Self.fetch(db, from: "runs r", where: RetryMarkSQL.pending, [], limit: nil, withOutput: false)
                var due: [Int64: Date] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT id, retry_at FROM runs WHERE retry_at IS NOT NULL") {
                    if let id = row.integer(0), let date = row.date(1) { due[id] = date }
                }
                return runs.reversed().compactMap { run in due[run.id].map { (run: run, due: $0) } }
            }
        } catch {
            throw storeError(error)
        }
    }

    /// Marks every row still `running` as `interrupted`: at start-up, such rows were left by a
    /// daemon that died. Returns them as they were (with their pids) so their processes can be
    /// looked for.
    func interruptLeftovers(at now: Date) async throws -> [RunRecord] {
        do {
            return try await changes.write(pool) { db in
                let leftovers = try Self.fetch(db, where: "status = 'running'", [], limit: nil)
                let stamp = Timestamp.format(now)
                try db.execute(sql: """
                    UPDATE runs SET status = 'interrupted', finished_at = ?,
                        duration_ms = max(0, CAST(round((julianday(?) - julianday(started_at)) * 86400000) AS INTEGER)),
                        error = 'schedd stopped while the run was active'
                    WHERE status = 'running'
                    """, arguments: [stamp, stamp])
                return leftovers
            }
        } catch {
            throw storeError(error)
        }
    }

    /// One run, or nil.
    public func run(id: Int64) async throws -> RunRecord? {
        do {
            return try await pool.read { db in try Self.fetch(db, where: "id = ?", [id], limit: 1).first }
        } catch {
            throw storeError(error)
        }
    }

    /// Runs by id (for the last run of each job in a listing), without their output.
    public func runs(ids: [Int64]) async throws -> [Int64: RunRecord] {
        guard !ids.isEmpty else { return [:] }
        do {
            return try await pool.read { db in
                var found: [Int64: RunRecord] = [:]
                for chunk in stride(from: 0, to: ids.count, by: 500).map({ Array(ids[$0..<min($0 + 500, ids.count)]) }) {
                    let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                    for run in try Self.fetch(db, where: "id IN (\(marks))", StatementArguments(chunk), limit: nil, withOutput: false) {
                        found[run.id] = run
                    }
                }
                return found
            }
        } catch {
            throw storeError(error)
        }
    }

    /// Runs matching `query`, newest first.
    public func history(_ query: HistoryQuery, withOutput: Bool = true) async throws -> [RunRecord] {
        let (table, filter, args) = Self.historyFilter(query)
        let limit = max(0, query.limit)
        do {
            return try await pool.read { db in try Self.fetch(db, from: table, where: filter, args, limit: limit, withOutput: withOutput) }
        } catch {
            throw storeError(error)
        }
    }

    /// The table expression, condition and arguments of a history query. A query by start
    /// time alone (the dashboard's "the last 24 hours") reads the index by start: left to
    /// itself, SQLite walks every row newest first to fill the limit, a second with 1M rows.
    static func historyFilter(_ query: HistoryQuery) -> (table: String, filter: String, arguments: StatementArguments) {
        var clauses: [String] = []
        var arguments: [(any DatabaseValueConvertible)?] = []
        if let job = query.job { clauses.append("job = ?"); arguments.append(job) }
        if let owner = query.owner {
            // `OWNER/` up to `OWNER0` ('0' follows '/'): the names that start with `OWNER/`,
            // as a range on the index by job.
            clauses.append("job >= ? AND job < ?")
            arguments.append(owner + "/")
            arguments.append(owner + "0")
        }
        if let status = query.status { clauses.append("status = ?"); arguments.append(status.rawValue) }
        if let since = query.since { clauses.append("started_at >= ?"); arguments.append(Timestamp.format(since)) }
        if let before = query.beforeID { clauses.append("id < ?"); arguments.append(before) }
        let filter = clauses.isEmpty ? "1" : clauses.joined(separator: " AND ")
        let table = query.since != nil && query.job == nil && query.owner == nil && query.status == nil
            ? "runs INDEXED BY runs_by_start" : "runs"
        return (table, filter, StatementArguments(arguments))
    }

    /// Deletes finished runs beyond the newest `keepPerJob` of each job, and those started
    /// before `olderThan`. Works in small transactions; returns how many rows went.
    @discardableResult
    func prune(keepPerJob: Int?, olderThan: Date?) async throws -> Int {
        var deleted = 0
        do {
            if let keep = keepPerJob {
                // Only the jobs over the limit: one pass over the job index. (All jobs, each then
                // looked at, was 10,000 queries and over a second with 10,000 jobs and 1M rows,
                // every pass, with nothing to delete.)
                let jobs = try await pool.read { db in
                    try String.fetchAll(db, sql: "SELECT job FROM runs GROUP BY job HAVING count(*) > ?", arguments: [keep])
                }
                for job in jobs {
                    while true {
                        let n = try await changes.write(pool) { db in
                            // Everything finished below the oldest run to keep goes.
                            var cutoff = Int64.max
                            if keep > 0 {
                                // Cached: this runs once per job, 10,000 times a pass with 10,000 jobs.
                                guard let id = try Int64.fetchOne(db.cachedStatement(sql: "SELECT id FROM runs WHERE job = ? ORDER BY id DESC LIMIT 1 OFFSET ?"),
                                                                  arguments: [job, keep - 1]) else { return 0 }
                                cutoff = id
                            }
                            try db.cachedStatement(sql: """
                                DELETE FROM runs WHERE id IN (
                                    SELECT id FROM runs r WHERE job = ? AND id < ? AND status != 'running' AND \(RetryMarkSQL.prunable) LIMIT ?)
                                """).execute(arguments: [job, cutoff, Self.pruneBatch])
                            return db.changesCount
                        }
                        deleted += n
                        if n < Self.pruneBatch { break }
                    }
                }
            }
            if let olderThan {
                let stamp = Timestamp.format(olderThan)
                while true {
                    let n = try await changes.write(pool) { db in
                        try db.execute(sql: """
                            DELETE FROM runs WHERE id IN (
                                SELECT id FROM runs r WHERE started_at < ? AND status != 'running' AND \(RetryMarkSQL.prunable) LIMIT ?)
                            """, arguments: [stamp, Self.pruneBatch])
                        return db.changesCount
                    }
                    deleted += n
                    if n < Self.pruneBatch { break }
                }
            }
        } catch {
            throw storeError(error)
        }
        return deleted
    }

    /// The columns of a run, in the order `record(_:)` reads them.
    static let columns = """
        id, job, trigger, attempt, status, scheduled_at, started_at, finished_at, duration_ms, \
        exit_code, signal, pid, output, output_truncated, error, output_streams, cpu_ms, triggered_by, cancelled_by, triggered_by_run, retry_of
        """
    static let columnsWithoutOutput = columns.replacingOccurrences(of: "pid, output,", with: "pid, NULL AS output,")
        .replacingOccurrences(of: "error, output_streams,", with: "error, NULL AS output_streams,")

    static func fetch(_ db: Database, from table: String = "runs", where filter: String, _ arguments: StatementArguments, limit: Int?,
                      withOutput: Bool = true) throws -> [RunRecord] {
        let columns = withOutput ? Self.columns : Self.columnsWithoutOutput
        let sql = "SELECT \(columns) FROM \(table) WHERE \(filter) ORDER BY id DESC\(limit.map { " LIMIT \($0)" } ?? "")"
        return try Row.fetchAll(db.cachedStatement(sql: sql), arguments: arguments).map(Self.record)
    }

    /// A run from a row of `columns`, read by position (by name, each read is a
    /// case-insensitive search of the row's columns), leniently: a row edited by hand into
    /// something odd is shown as well as it can be, never a crash.
    static func record(_ row: Row) -> RunRecord {
        RunRecord(
            id: row.integer(0) ?? 0, job: row.text(1) ?? "",
            trigger: row.text(2).flatMap(RunTrigger.init(rawValue:)) ?? .manual,
            attempt: row.int(3) ?? 1,
            status: row.text(4).flatMap(RunStatus.init(rawValue:)) ?? .failed,
            scheduledAt: row.date(5),
            startedAt: row.date(6) ?? Date(timeIntervalSince1970: 0),
            finishedAt: row.date(7),
            durationMs: row.integer(8), exitCode: row.int32(9), signal: row.int32(10), pid: row.int32(11),
            output: row.text(12), outputTruncated: row.flag(13) ?? false, outputStreams: OutputSegment.decode(row.text(15)),
            error: row.text(14), cpuMs: row.integer(16), triggeredBy: row.text(17), cancelledBy: row.text(18),
            triggeredByRun: row.integer(19), retryOf: row.integer(20))
    }
}
