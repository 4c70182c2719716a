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
    public func start(job: String, trigger: RunTrigger, attempt: Int = 1, scheduledAt: Date?, startedAt: Date, pid: Int32? = nil) async throws -> RunRecord {
        let record = RunRecord(id: 0, job: job, trigger: trigger, attempt: attempt, status: .running,
                               scheduledAt: scheduledAt, startedAt: startedAt, pid: pid)
        return try await insert(record)
    }

    /// Records a trigger that did not start a run (`concurrency: forbid` while one was active).
    public func recordSkipped(job: String, trigger: RunTrigger, scheduledAt: Date?, at: Date, reason: String) async throws -> RunRecord {
        let record = RunRecord(id: 0, job: job, trigger: trigger, attempt: 1, status: .skipped, scheduledAt: scheduledAt,
                               startedAt: at, finishedAt: at, durationMs: 0, error: reason)
        return try await insert(record)
    }

    func insert(_ record: RunRecord) async throws -> RunRecord {
        do {
            return try await committer.write { db in
                // Cached statements: these run for every run, and preparing them is most of their cost.
                try db.cachedStatement(sql: """
                    INSERT INTO runs (job, trigger, attempt, status, scheduled_at, started_at, finished_at, duration_ms, pid, error)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """).execute(arguments: [record.job, record.trigger.rawValue, record.attempt, record.status.rawValue,
                                     record.scheduledAt.map(Timestamp.format), Timestamp.format(record.startedAt),
                                     record.finishedAt.map(Timestamp.format), record.durationMs, record.pid, record.error])
                var stored = record
                stored.id = db.lastInsertedRowID
                try db.cachedStatement(sql: "UPDATE job_state SET last_run_id = ? WHERE job = ?").execute(arguments: [stored.id, record.job])
                return stored
            }
        } catch {
            throw storeError(error)
        }
    }

    /// Sets the pid of a running run once its process exists.
    public func setPID(_ id: Int64, pid: Int32) async throws {
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
    public func finish(_ id: Int64, _ outcome: RunOutcome) async throws -> RunRecord? {
        precondition(outcome.status.isFinal, "finish needs a final status")
        do {
            return try await committer.write { db in
                let finished = Timestamp.format(outcome.finishedAt)
                try db.cachedStatement(sql: """
                    UPDATE runs SET status = ?, finished_at = ?,
                        duration_ms = max(0, CAST(round((julianday(?) - julianday(started_at)) * 86400000) AS INTEGER)),
                        exit_code = ?, signal = ?, output = ?, output_truncated = ?, error = ?, pid = coalesce(?, pid)
                    WHERE id = ? AND status = 'running'
                    """).execute(arguments: [outcome.status.rawValue, finished, finished, outcome.exitCode, outcome.signal,
                                             outcome.output, outcome.outputTruncated, outcome.error, outcome.pid, id])
                guard db.changesCount == 1 else { return nil }
                return try Self.fetch(db, where: "id = ?", [id], limit: 1).first
            }
        } catch {
            throw storeError(error)
        }
    }

    /// Marks every row still `running` as `interrupted`: at start-up, such rows were left by a
    /// daemon that died. Returns them as they were (with their pids) so their processes can be
    /// looked for.
    public func interruptLeftovers(at now: Date) async throws -> [RunRecord] {
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
        var clauses: [String] = []
        var arguments: [(any DatabaseValueConvertible)?] = []
        if let job = query.job { clauses.append("job = ?"); arguments.append(job) }
        if let status = query.status { clauses.append("status = ?"); arguments.append(status.rawValue) }
        if let since = query.since { clauses.append("started_at >= ?"); arguments.append(Timestamp.format(since)) }
        if let before = query.beforeID { clauses.append("id < ?"); arguments.append(before) }
        let filter = clauses.isEmpty ? "1" : clauses.joined(separator: " AND ")
        let args = StatementArguments(arguments)
        let limit = max(0, query.limit)
        do {
            return try await pool.read { db in try Self.fetch(db, where: filter, args, limit: limit, withOutput: withOutput) }
        } catch {
            throw storeError(error)
        }
    }

    /// Deletes finished runs beyond the newest `keepPerJob` of each job, and those started
    /// before `olderThan`. Works in small transactions; returns how many rows went.
    @discardableResult
    public func prune(keepPerJob: Int?, olderThan: Date?) async throws -> Int {
        var deleted = 0
        do {
            if let keep = keepPerJob {
                let jobs = try await pool.read { db in try String.fetchAll(db, sql: "SELECT DISTINCT job FROM runs") }
                for job in jobs {
                    while true {
                        let n = try await changes.write(pool) { db in
                            // Everything finished below the oldest run to keep goes.
                            var cutoff = Int64.max
                            if keep > 0 {
                                guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM runs WHERE job = ? ORDER BY id DESC LIMIT 1 OFFSET ?",
                                                                  arguments: [job, keep - 1]) else { return 0 }
                                cutoff = id
                            }
                            try db.execute(sql: """
                                DELETE FROM runs WHERE id IN (
                                    SELECT id FROM runs WHERE job = ? AND id < ? AND status != 'running' LIMIT ?)
                                """, arguments: [job, cutoff, Self.pruneBatch])
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
                                SELECT id FROM runs WHERE started_at < ? AND status != 'running' LIMIT ?)
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

    static func fetch(_ db: Database, where filter: String, _ arguments: StatementArguments, limit: Int?, withOutput: Bool = true) throws -> [RunRecord] {
        let sql = """
            SELECT id, job, trigger, attempt, status, scheduled_at, started_at, finished_at, duration_ms,
                   exit_code, signal, pid, \(withOutput ? "output" : "NULL AS output"), output_truncated, error
            FROM runs WHERE \(filter) ORDER BY id DESC\(limit.map { " LIMIT \($0)" } ?? "")
            """
        return try Row.fetchAll(db.cachedStatement(sql: sql), arguments: arguments).map { row in
            RunRecord(
                id: row["id"], job: row["job"],
                trigger: RunTrigger(rawValue: row["trigger"]) ?? .manual,
                attempt: row["attempt"],
                status: RunStatus(rawValue: row["status"]) ?? .failed,
                scheduledAt: (row["scheduled_at"] as String?).flatMap(Timestamp.parse),
                startedAt: Timestamp.parse(row["started_at"]) ?? Date(timeIntervalSince1970: 0),
                finishedAt: (row["finished_at"] as String?).flatMap(Timestamp.parse),
                durationMs: row["duration_ms"], exitCode: row["exit_code"], signal: row["signal"], pid: row["pid"],
                output: row["output"], outputTruncated: row["output_truncated"], error: row["error"])
        }
    }
}
