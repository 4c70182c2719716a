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

    @Test func refusesAPathThatIsNotADatabase() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("schedd-notdb-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("x.db")
        try Data(repeating: 0x41, count: 4096).write(to: file)
        #expect(throws: APIError.self) { try SchedulerDatabase(path: file.path) }
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
