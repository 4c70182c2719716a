import Foundation
import GRDB
@testable import Scheduler
import SchedulerAPI

/// A database in a fresh temporary directory, removed when the test is done with it.
final class TemporaryDatabase {
    let directory: URL
    let database: SchedulerDatabase
    var path: String { database.path }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("schedd-test-\(UUID().uuidString)")
        database = try SchedulerDatabase(path: directory.appendingPathComponent("state/schedd.db").path)
    }

    deinit {
        try? database.close()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Every row of every table, as text: equal dumps mean equal content.
    func dump() async throws -> String {
        try await database.pool.read { db in
            var out = ""
            for table in ["jobs", "job_state", "runs"] {
                for row in try Row.fetchAll(db, sql: "SELECT * FROM \(table) ORDER BY 1") {
                    out += "\(table): \(row)\n"
                }
            }
            return out
        }
    }
}

func jobFile(_ text: String, existing: Set<String> = []) throws -> JobFile {
    try JobFile(data: Array(text.utf8), context: ValidationContext(runningAsRoot: true, existingJobs: existing))
}

let t0 = Timestamp.parse("2026-11-28T12:00:00.000Z")!
