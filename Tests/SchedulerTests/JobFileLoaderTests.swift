import Foundation
import GRDB
import Testing
@testable import Scheduler
import SchedulerAPI

/// A pruning apply of the file applied last, unchanged since, is skipped; anything that could
/// make it change something makes it a full apply again.
@Suite struct JobFileLoaderTests {
    static let file = #"{"jobs": [{"name": "a", "shell": "true", "schedule": "@hourly"}, {"name": "b", "handler": "h"}]}"#

    func loader(_ temp: TemporaryDatabase, _ text: String, handlers: Set<String>? = nil) throws -> JobFileLoader {
        let path = temp.directory.appendingPathComponent("jobs.json")
        try text.write(to: path, atomically: true, encoding: .utf8)
        return JobFileLoader(path: path.path, handlers: handlers)
    }

    func generation(_ temp: TemporaryDatabase, _ key: String) async throws -> String? {
        try await temp.database.pool.read { db in try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key]) }
    }

    @Test func theSameFileAgainChangesNothingAndReportsEveryJobUnchanged() async throws {
        let temp = try TemporaryDatabase()
        let first = try await loader(temp, Self.file).apply(to: temp.database, prune: true)
        #expect(first.created == ["a", "b"])
        #expect(try await generation(temp, "applied_generation") == generation(temp, "jobs_generation"))
        let before = try await temp.dump()
        let again = try await loader(temp, Self.file).apply(to: temp.database, prune: true)
        #expect(again == ApplyResult(unchanged: ["a", "b"]))
        #expect(try await temp.dump() == before)
    }

    @Test func aJobChangedSinceMakesItAFullApply() async throws {
        let temp = try TemporaryDatabase()
        _ = try await loader(temp, Self.file).apply(to: temp.database, prune: true)
        // Through the API: the file's apply is made again (the database changed), and the API's
        // job is not the file's to remove.
        try await temp.database.jobs.put(try jobFile(#"{"jobs": [{"name": "c", "shell": "true"}]}"#).jobs[0])
        let afterAPI = try await loader(temp, Self.file).apply(to: temp.database, prune: true)
        #expect(afterAPI.removed == [])
        #expect(afterAPI.unchanged == ["a", "b"])
        #expect(try await temp.database.jobs.job(named: "c")?.origin == .api())
        try await temp.database.jobs.remove(named: "c")
        // By hand with sqlite3: the triggers count that too.
        try await temp.database.pool.write { db in try db.execute(sql: "DELETE FROM jobs WHERE name = 'a'") }
        #expect(try await loader(temp, Self.file).apply(to: temp.database, prune: true).created == ["a"])
        try await temp.database.pool.write { db in
            try db.execute(sql: #"UPDATE jobs SET spec = json_set(spec, '$.shell', 'false') WHERE name = 'b'"#)
        }
        #expect(try await loader(temp, Self.file).apply(to: temp.database, prune: true).updated == ["b"])
        #expect(try await loader(temp, Self.file).apply(to: temp.database, prune: true) == ApplyResult(unchanged: ["a", "b"]))
    }

    @Test func otherHandlersOrAnotherFileAreCheckedAgain() async throws {
        let temp = try TemporaryDatabase()
        _ = try await loader(temp, Self.file, handlers: ["h"]).apply(to: temp.database, prune: true)
        // The same bytes, checked against handlers that lack "h": refused, as a first apply would be.
        await #expect(throws: APIError.self) { try await loader(temp, Self.file, handlers: ["other"]).apply(to: temp.database, prune: true) }
        let edited = Self.file.replacingOccurrences(of: "@hourly", with: "@daily")
        #expect(try await loader(temp, edited, handlers: ["h"]).apply(to: temp.database, prune: true).updated == ["a"])
        // Without prune (schedctl apply of a partial file) nothing is skipped or recorded.
        let partial = try await loader(temp, #"{"jobs": [{"name": "a", "shell": "true", "schedule": "@daily"}]}"#).apply(to: temp.database)
        #expect(partial.unchanged == ["a"])
        #expect(try await loader(temp, edited, handlers: ["h"]).apply(to: temp.database, prune: true) == ApplyResult(unchanged: ["a", "b"]))
    }
}
