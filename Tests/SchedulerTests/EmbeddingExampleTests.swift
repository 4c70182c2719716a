import Foundation
import Logging
import Testing
import Scheduler
import SchedulerAPI

/// The example of docs/embedding.md, run for real (with a manual clock instead of waiting five
/// minutes), so that the document stays true.
@Suite struct EmbeddingExampleTests {
    actor TokenCache {
        var token: String?
        var refreshes = 0
        func store(_ value: String) {
            token = value
            refreshes += 1
        }
    }

    @Test func refreshATokenEveryFiveMinutes() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("embed-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let clock = ManualClock(Date(timeIntervalSince1970: 1_800_000_000))  // 2027-01-15T08:00:00Z
        let cache = TokenCache()

        // --- as in docs/embedding.md ---
        let database = try SchedulerDatabase(path: directory.appendingPathComponent("jobs.db").path)
        let engine = JobScheduler(
            database: database,
            handlers: [
                "refresh-token": { context in
                    context.logger.info("refreshing the API token")
                    let token = "token-\(context.runID)"  // e.g. try await authClient.fetchToken()
                    await cache.store(token)
                    context.print("new token expires in 15m")
                },
            ],
            clock: clock)
        try await engine.apply(jobFile: """
            {"jobs": [{"name": "refresh-token", "handler": "refresh-token", "schedule": "@every 5m",
                       "timeout": "30s", "retries": 3, "retry_backoff": "2s"}]}
            """)
        // --- end ---

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await engine.run() }
            try await waitFor("the engine to start") { await engine.isReady }
            clock.advance(by: 300)
            try await waitFor("the first refresh, recorded") {
                (try? await database.runs.history(HistoryQuery(job: "refresh-token", status: .succeeded)).count) == 1
            }
            clock.advance(by: 300)
            try await waitFor("the second refresh, recorded") {
                (try? await database.runs.history(HistoryQuery(job: "refresh-token", status: .succeeded)).count) == 2
            }

            let last = try await engine.lastRun(of: "refresh-token", status: .succeeded)
            #expect(last?.output == "new token expires in 15m\n")
            #expect(last?.trigger == .schedule)
            #expect(await cache.token == "token-\(last?.id ?? 0)")

            engine.shutdown()
            try await group.next()
        }
        try database.close()
    }
}
