import Foundation
import GRDB
import Testing
@testable import Scheduler
import SchedulerAPI

@Suite struct SchemaTests {
    @Test func migratesAnEmptyDatabaseToTheCurrentVersion() async throws {
        let temp = try TemporaryDatabase()
        #expect(try await temp.database.schemaVersion() == Schema.currentVersion)
        let tables = try await temp.database.pool.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name")
        }
        #expect(tables == ["job_overview", "job_state", "jobs", "meta", "run_summary", "runs"])
        #expect(temp.database.instanceID.count == 32)
        let mode = try await temp.database.pool.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
        #expect(mode == "wal")
        #expect(try await temp.database.integrityCheck() == "ok")
    }

    /// Every commit is synced (`synchronous = FULL`, 2) on the connection that writes, not
    /// only at checkpoints: GRDB's WAL set-up sets NORMAL after the connection's preparation.
    @Test func theWriterSyncsEveryCommit() async throws {
        let temp = try TemporaryDatabase()
        #expect(try await temp.database.pool.write { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") } == 2)
        let again = try SchedulerDatabase(path: temp.path)
        #expect(try await again.pool.write { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") } == 2)
        try again.close()
    }

    @Test func reopensAnExistingDatabaseKeepingItsContent() async throws {
        let temp = try TemporaryDatabase()
        _ = try await temp.database.jobs.apply(try jobFile(#"{"jobs": [{"name": "a", "shell": "true"}]}"#))
        let run = try await temp.database.runs.start(job: "a", trigger: .manual, scheduledAt: nil, startedAt: t0)
        let again = try SchedulerDatabase(path: temp.path)
        #expect(try await again.schemaVersion() == Schema.currentVersion)
        #expect(try await again.jobs.names() == ["a"])
        #expect(try await again.runs.run(id: run.id)?.status == .running)
        try again.close()
    }

    /// A database from before job owners (version 2) keeps its jobs and runs; its jobs become
    /// the API's until a job file claims them, and the next --config apply is not skipped.
    @Test func migratesAVersion2DatabaseForward() async throws {
        let (dir, path) = try await Self.oldDatabase(version: 2, rows: """
            INSERT INTO jobs (name, spec, created_at, updated_at) VALUES ('a', '{"name":"a","shell":"true"}', 'x', 'x');
            INSERT INTO job_state (job, paused, pause_reason) VALUES ('a', 1, 'manual');
            INSERT INTO runs (job, trigger, status, started_at, output) VALUES ('a', 'manual', 'succeeded', 'x', 'hi');
            INSERT INTO meta (key, value) VALUES ('applied_source', 'old'), ('applied_generation', '1');
            """)
        defer { try? FileManager.default.removeItem(at: dir) }
        let database = try SchedulerDatabase(path: path)
        defer { try? database.close() }
        #expect(try await database.schemaVersion() == Schema.currentVersion)
        let job = try #require(try await database.jobs.job(named: "a"))
        #expect(job.origin == .api())
        #expect(job.state.paused && job.state.pauseReason == "manual")
        let run = try #require(try await database.runs.history(HistoryQuery(job: "a", limit: 1)).first)
        #expect(run.output == "hi" && run.outputStreams == nil)
        #expect(try await database.jobs.unchangedJobs(since: Data("old".utf8)) == nil)
        #expect(try await database.integrityCheck() == "ok")
    }

    /// A database from before the audit trail (version 4): its jobs say where they came from,
    /// its runs name no one, and new writes record who made them.
    @Test func migratesAVersion4DatabaseToTheAuditTrail() async throws {
        let (dir, path) = try await Self.oldDatabase(version: 4, rows: """
            INSERT INTO jobs (name, spec, created_at, updated_at, origin, origin_detail) VALUES
                ('f', '{"name":"f","shell":"true"}', 'x', 'x', 'file', '/etc/schedd/jobs.json'),
                ('a', '{"name":"a","shell":"true"}', 'x', 'x', 'api', 'uid 1000 (alice)'),
                ('u', '{"name":"u","shell":"true"}', 'x', 'x', 'api', NULL);
            INSERT INTO runs (job, trigger, status, started_at) VALUES ('a', 'manual', 'succeeded', 'x');
            """)
        defer { try? FileManager.default.removeItem(at: dir) }
        let database = try SchedulerDatabase(path: path)
        defer { try? database.close() }
        #expect(try await database.schemaVersion() == Schema.currentVersion)
        let jobs = Dictionary(uniqueKeysWithValues: try await database.jobs.all().map { ($0.name, $0) })
        #expect(jobs["f"]?.createdBy == "file /etc/schedd/jobs.json" && jobs["f"]?.changedBy == "file /etc/schedd/jobs.json")
        #expect(jobs["a"]?.createdBy == "uid 1000 (alice)")
        #expect(jobs["u"]?.createdBy == "unknown (before schedd recorded it)")
        let run = try #require(try await database.runs.history(HistoryQuery(job: "a", limit: 1)).first)
        #expect(run.triggeredBy == nil && run.cancelledBy == nil)
        // A change now records its caller, and keeps who created the job.
        _ = try await database.jobs.apply(try JobFile(data: Array(#"{"jobs": [{"name": "a", "shell": "false"}]}"#.utf8), context: .stored),
                                          origin: .api("uid 0 (root)"))
        let changed = try #require(try await database.jobs.job(named: "a"))
        #expect(changed.createdBy == "uid 1000 (alice)" && changed.changedBy == "uid 0 (root)")
        #expect(try await database.integrityCheck() == "ok")
    }

    /// A database from before retries named the attempt they follow (version 7): its marks
    /// are read as they were (any retry of the job with the next attempt after a failed run
    /// voids its mark), and a retry started now voids its own attempt's mark alone.
    @Test func migratesAVersion7DatabasesRetryMarks() async throws {
        let (dir, path) = try await Self.oldDatabase(version: 7, rows: """
            INSERT INTO jobs (name, spec, created_at, updated_at) VALUES ('a', '{"name":"a","shell":"false","retries":1}', 'x', 'x');
            INSERT INTO runs (id, job, trigger, attempt, status, started_at, retry_at) VALUES
                (1, 'a', 'manual', 1, 'failed', '2026-12-01T00:00:00.000Z', '2026-12-01T00:01:00.000Z'),
                (2, 'a', 'retry', 2, 'succeeded', '2026-12-01T00:01:00.000Z', NULL),
                (3, 'a', 'manual', 1, 'failed', '2026-12-01T00:02:00.000Z', '2026-12-01T00:03:00.000Z'),
                (4, 'a', 'manual', 1, 'failed', '2026-12-01T00:02:30.000Z', '2026-12-01T00:04:00.000Z');
            """)
        defer { try? FileManager.default.removeItem(at: dir) }
        let database = try SchedulerDatabase(path: path)
        defer { try? database.close() }
        #expect(try await database.schemaVersion() == Schema.currentVersion)
        #expect(try await database.runs.pendingRetries().map(\.run.id) == [3, 4])
        let failed = try #require(try await database.runs.run(id: 3))
        _ = try await database.runs.insert([RunRecord(id: 0, job: "a", trigger: .retry, attempt: 2, status: .running, startedAt: Date(),
                                                      retryOf: failed.id)])
        #expect(try await database.runs.pendingRetries().map(\.run.id) == [4])
        #expect(try await database.integrityCheck() == "ok")
    }

    /// A database at schema `version` with `rows` inserted, as an older schedd left it: its
    /// directory (to remove) and its path.
    static func oldDatabase(version: Int, rows: String) async throws -> (URL, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("schedd-v\(version)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("old.db").path
        let old = try DatabaseQueue(path: path)
        try await old.write { db in
            for migration in Schema.migrations.prefix(version) { try db.execute(sql: migration) }
            try db.execute(sql: "PRAGMA user_version = \(version)")
            try db.execute(sql: rows)
        }
        try old.close()
        return (dir, path)
    }

    @Test func refusesADatabaseFromANewerSchedd() async throws {
        let temp = try TemporaryDatabase()
        try await temp.database.pool.write { db in try db.execute(sql: "PRAGMA user_version = 999") }
        #expect(throws: APIError.self) { try SchedulerDatabase(path: temp.path) }
        do {
            _ = try SchedulerDatabase(path: temp.path)
        } catch {
            #expect(error.code == .databaseUnusable)
            #expect(error.message.contains("999"))
        }
    }

    /// A table or column dropped by hand is named at open, not met as a failure of every
    /// request that needs it; a view or an index dropped is not the daemon's concern.
    @Test func refusesADatabaseMissingATableOrAColumn() async throws {
        for damage in ["DROP VIEW run_summary; DROP VIEW job_overview; DROP TABLE job_state",
                       "DROP VIEW run_summary; ALTER TABLE runs DROP COLUMN cpu_ms"] {
            let temp = try TemporaryDatabase()
            try await temp.database.pool.write { db in try db.execute(sql: damage) }
            do {
                _ = try SchedulerDatabase(path: temp.path)
                Issue.record("opened after \(damage)")
            } catch {
                #expect(error.code == .databaseUnusable)
                #expect(error.message.contains(damage.contains("cpu_ms") ? "lacks column runs.cpu_ms" : "lacks table job_state"), "\(error.message)")
            }
        }
        let temp = try TemporaryDatabase()
        try await temp.database.pool.write { db in try db.execute(sql: "DROP VIEW run_summary; DROP INDEX runs_by_start") }
        try SchedulerDatabase(path: temp.path).close()
    }

    @Test func refusesAPathThatIsNotADatabase() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("schedd-notdb-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("x.db")
        try Data(repeating: 0x41, count: 4096).write(to: file)
        #expect(throws: APIError.self) { try SchedulerDatabase(path: file.path) }
        #expect { try SchedulerDatabase(path: dir.path) } throws: { error in
            (error as? APIError)?.message == "cannot open the database \(dir.path): it is a directory; give --db a file's path"
        }
    }

    /// Another program's database given to `--db` by mistake is refused and left as it was,
    /// byte for byte: no tables added, not turned to WAL mode. An empty file is schedd's.
    @Test func refusesAnotherProgramsDatabaseAndLeavesItAsItWas() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("schedd-other-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("app.db").path
        let other = try DatabaseQueue(path: path)
        try other.write { db in try db.execute(sql: "CREATE TABLE accounts (id INTEGER PRIMARY KEY); INSERT INTO accounts VALUES (1)") }
        try other.close()
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        do {
            _ = try SchedulerDatabase(path: path)
            Issue.record("opened another program's database")
        } catch {
            #expect(error.code == .databaseUnusable)
            #expect(error.message.contains("the file holds tables schedd did not make (accounts): it is not a schedd database"), "\(error.message)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"))
        let empty = dir.appendingPathComponent("empty.db").path
        #expect(FileManager.default.createFile(atPath: empty, contents: Data()))
        try SchedulerDatabase(path: empty).close()
    }

    @Test func constraintsRejectUnknownStatuses() async throws {
        let temp = try TemporaryDatabase()
        await #expect(throws: (any Error).self) {
            try await temp.database.pool.write { db in
                try db.execute(sql: "INSERT INTO runs (job, trigger, status, started_at) VALUES ('a', 'manual', 'exploded', 'x')")
            }
        }
    }
}
