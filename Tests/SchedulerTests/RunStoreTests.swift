import Foundation
import GRDB
import Testing
@testable import Scheduler
import SchedulerAPI

@Suite struct RunStoreTests {
    @Test func aRunGoesFromRunningToItsFinalStatusOnce() async throws {
        let temp = try TemporaryDatabase()
        let runs = temp.database.runs
        _ = try await temp.database.jobs.apply(try jobFile(#"{"jobs": [{"name": "a", "shell": "x"}]}"#))
        let started = try await runs.start(job: "a", trigger: .schedule, scheduledAt: t0, startedAt: t0.addingTimeInterval(0.002))
        #expect(started.status == .running && started.id > 0)
        try await runs.setPID(started.id, pid: 4242)
        let outcome = RunOutcome(status: .failed, finishedAt: t0.addingTimeInterval(1.5), exitCode: 3,
                                 output: "boom\n", outputTruncated: true, error: "exit status 3")
        let finished = try await runs.finish(started, outcome)
        #expect(finished?.status == .failed)
        #expect(finished?.durationMs == 1498)
        #expect(finished?.exitCode == 3)
        // A pid set while it ran stays, also when the end does not carry it.
        #expect(try await runs.run(id: started.id)?.pid == 4242)
        #expect(finished?.output == "boom\n" && finished?.outputTruncated == true)
        // A second finish changes nothing.
        #expect(try await runs.finish(started, RunOutcome(status: .succeeded, finishedAt: t0)) == nil)
        #expect(try await runs.run(id: started.id)?.status == .failed)
        #expect(try await temp.database.jobs.job(named: "a")?.state.lastRunID == started.id)
    }

    @Test func leftoverRunningRowsBecomeInterrupted() async throws {
        let temp = try TemporaryDatabase()
        let runs = temp.database.runs
        let a = try await runs.start(job: "a", trigger: .schedule, scheduledAt: t0, startedAt: t0, pid: 99)
        let b = try await runs.start(job: "b", trigger: .manual, scheduledAt: nil, startedAt: t0)
        try await runs.finish(b, RunOutcome(status: .succeeded, finishedAt: t0, exitCode: 0))
        let leftovers = try await runs.interruptLeftovers(at: t0.addingTimeInterval(10))
        #expect(leftovers.map(\.id) == [a.id])
        #expect(leftovers.first?.pid == 99)
        let after = try await runs.run(id: a.id)
        #expect(after?.status == .interrupted && after?.durationMs == 10_000)
        #expect(try await runs.run(id: b.id)?.status == .succeeded)
        #expect(try await runs.interruptLeftovers(at: t0).isEmpty)
    }

    /// Anyone with `sqlite3` may store any type in any column. Rows edited into odd values
    /// are read as well as they can be (GRDB's typed reads end the process on a value that does
    /// not convert: a blob where text belongs, an exit code beyond 32 bits).
    @Test func rowsEditedByHandIntoOddValuesAreReadNotFatal() async throws {
        let temp = try TemporaryDatabase()
        _ = try await temp.database.jobs.apply(try jobFile(#"{"jobs": [{"name": "a", "shell": "x", "schedule": "@hourly"}, {"name": "b", "shell": "y"}]}"#))
        let runs = temp.database.runs
        let run = try await runs.start(job: "a", trigger: .schedule, scheduledAt: t0, startedAt: t0)
        try await runs.finish(run, RunOutcome(status: .failed, finishedAt: t0.addingTimeInterval(1), exitCode: 3, output: "boom\n"))
        try await runs.pool.write { db in
            try db.execute(sql: """
                UPDATE runs SET output = x'626f6f6dff0a', triggered_by = x'00c3', exit_code = 99999999999, signal = -3e40,
                    pid = 'abc', attempt = 2.5, duration_ms = 'long', cpu_ms = x'01', output_streams = x'5b5d',
                    scheduled_at = 12, finished_at = 'garbage', error = 42
                """)
            try db.execute(sql: "UPDATE jobs SET created_by = x'ff', origin_detail = 3.5 WHERE name = 'a'")
            try db.execute(sql: """
                INSERT OR REPLACE INTO job_state (job, paused, pause_reason, consecutive_failures, last_run_id, next_run_at, last_fire_at)
                VALUES ('b', 1, x'00', 1e300, 'x', x'00', 7)
                """)
        }
        let read = try #require(try await runs.run(id: run.id))
        #expect(read.output == "boom\u{FFFD}\n")
        #expect(read.triggeredBy == "\u{0}\u{FFFD}")
        #expect(read.exitCode == nil && read.signal == nil && read.pid == nil && read.durationMs == nil && read.cpuMs == nil)
        #expect(read.attempt == 2 && read.scheduledAt == nil && read.finishedAt == nil && read.error == "42")
        #expect(read.outputStreams == [])
        #expect(try await temp.database.history(HistoryQuery(job: "a"), withOutput: true).map(\.id) == [run.id])
        let jobs = try await temp.database.jobs()
        #expect(jobs.map(\.name) == ["a", "b"])
        #expect(jobs.first?.createdBy == "\u{FFFD}" && jobs.first?.origin.detail == "3.5")
        let b = try #require(jobs.last)
        #expect(b.state.paused && b.state.pauseReason == "\u{0}" && b.state.lastRunID == nil && b.state.nextRunAt == nil)
        #expect(try await temp.database.jobs.stateCounts().paused == 1)
    }

    /// Fills `runs` with `perJob` finished runs per job, one second apart, starting at t0.
    func fill(_ runs: RunStore, jobs: [String], perJob: Int) async throws {
        try await runs.pool.write { db in
            var i = 0
            for n in 0..<perJob {
                for job in jobs {
                    let at = Timestamp.format(t0.addingTimeInterval(Double(i)))
                    let status: RunStatus = n % 10 == 0 ? .failed : .succeeded
                    try db.execute(sql: """
                        INSERT INTO runs (job, trigger, attempt, status, scheduled_at, started_at, finished_at, duration_ms, exit_code)
                        VALUES (?, 'schedule', 1, ?, ?, ?, ?, 5, ?)
                        """, arguments: [job, status.rawValue, at, at, at, status == .failed ? 1 : 0])
                    i += 1
                }
            }
        }
    }

    @Test func historyFiltersAndPaginatesNewestFirst() async throws {
        let temp = try TemporaryDatabase()
        let runs = temp.database.runs
        try await fill(runs, jobs: ["a", "b", "c"], perJob: 1000)

        let page1 = try await runs.history(HistoryQuery(job: "b", limit: 50))
        #expect(page1.count == 50)
        #expect(page1.allSatisfy { $0.job == "b" })
        #expect(zip(page1, page1.dropFirst()).allSatisfy { $0.id > $1.id })
        let page2 = try await runs.history(HistoryQuery(job: "b", beforeID: page1.last!.id, limit: 50))
        #expect(page2.first!.id < page1.last!.id)
        #expect(Set(page1.map(\.id)).isDisjoint(with: page2.map(\.id)))

        let failures = try await runs.history(HistoryQuery(status: .failed, limit: 10_000))
        #expect(failures.count == 300)
        #expect(failures.allSatisfy { $0.status == .failed })

        let recent = try await runs.history(HistoryQuery(since: t0.addingTimeInterval(2990), limit: 10_000))
        #expect(recent.count == 10)
        let all = try await runs.history(HistoryQuery(limit: 100_000))
        #expect(all.count == 3000)
    }

    /// The history queries the dashboard and the CLI make read an index, never the whole
    /// table (EXPLAIN QUERY PLAN on the schema as migrated).
    @Test func historyQueriesUseTheIndexes() async throws {
        let temp = try TemporaryDatabase()
        func plan(_ query: HistoryQuery) async throws -> String {
            let (table, filter, arguments) = RunStore.historyFilter(query)
            return try await temp.database.pool.read { db in
                let rows = try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN SELECT \(RunStore.columnsWithoutOutput) FROM \(table) WHERE \(filter) ORDER BY id DESC LIMIT 50",
                                            arguments: arguments)
                return rows.map { $0["detail"] as String? ?? "" }.joined(separator: "; ")
            }
        }
        var lastDay = HistoryQuery(since: Date().addingTimeInterval(-86400), limit: 10_000)
        let day = try await plan(lastDay)
        #expect(day.contains("USING INDEX runs_by_start"), "\(day)")
        lastDay.beforeID = 1000
        let page = try await plan(lastDay)
        #expect(page.contains("USING INDEX runs_by_start"), "\(page)")
        let job = try await plan(HistoryQuery(job: "backup"))
        #expect(job.contains("USING INDEX runs_by_job"), "\(job)")
        var mine = HistoryQuery()
        mine.owner = "alice"
        let owner = try await plan(mine)
        #expect(owner.contains("runs_by_job"), "\(owner)")
        let failed = try await plan(HistoryQuery(status: .failed))
        #expect(failed.contains("USING INDEX runs_by_status"), "\(failed)")
        // Newest first without a filter: the rowid, backwards, stopping at the limit.
        let all = try await plan(HistoryQuery())
        #expect(!all.contains("TEMP B-TREE"), "\(all)")
    }

    @Test func pruneKeepsTheNewestRunsOfEachJob() async throws {
        let temp = try TemporaryDatabase()
        let runs = temp.database.runs
        try await fill(runs, jobs: ["a", "b"], perJob: 2500)
        let active = try await runs.start(job: "a", trigger: .manual, scheduledAt: nil, startedAt: t0.addingTimeInterval(-100))
        let newestA = try await runs.history(HistoryQuery(job: "a", limit: 100)).map(\.id)

        let deleted = try await runs.prune(keepPerJob: 100, olderThan: nil)
        #expect(deleted == 4801)  // (2500 + 1 active) + 2500, less 100 kept of each
        let keptA = try await runs.history(HistoryQuery(job: "a", limit: 10_000)).map(\.id)
        #expect(keptA == newestA)
        #expect(keptA.contains(active.id))
        #expect(try await runs.history(HistoryQuery(job: "b", limit: 10_000)).count == 100)
        // Under the limit, or at it: nothing goes.
        try await fill(runs, jobs: ["c"], perJob: 100)
        try await fill(runs, jobs: ["d"], perJob: 99)
        #expect(try await runs.prune(keepPerJob: 100, olderThan: nil) == 0)
        #expect(try await runs.prune(keepPerJob: 99, olderThan: nil) == 3)  // the oldest of a, b and c; d is at the limit
    }

    @Test func pruneByAgeNeverTouchesActiveRuns() async throws {
        let temp = try TemporaryDatabase()
        let runs = temp.database.runs
        try await fill(runs, jobs: ["a"], perJob: 3000)
        let active = try await runs.start(job: "a", trigger: .manual, scheduledAt: nil, startedAt: t0)
        let deleted = try await runs.prune(keepPerJob: nil, olderThan: t0.addingTimeInterval(2000))
        #expect(deleted == 2000)
        let left = try await runs.history(HistoryQuery(limit: 10_000))
        #expect(left.count == 1001)
        #expect(left.contains { $0.id == active.id })
        #expect(left.filter { $0.id != active.id }.allSatisfy { $0.startedAt >= t0.addingTimeInterval(2000) })
    }

    @Test func skippedRunsAreRecordedFinalInOneWrite() async throws {
        let temp = try TemporaryDatabase()
        let changesBefore = temp.database.changes.current
        let skipped = try await temp.database.runs.recordSkipped((0..<500).map {
            RunSkip(job: "job-\($0)", trigger: .schedule, scheduledAt: t0, at: t0, reason: "run \($0) still active")
        })
        #expect(skipped.count == 500)
        #expect(Set(skipped.map(\.id)).count == 500)
        #expect(skipped.allSatisfy { $0.status == .skipped })
        #expect(temp.database.changes.current == changesBefore + 1)
        let stored = try await temp.database.runs.run(id: skipped[7].id)
        #expect(stored?.job == "job-7" && stored?.status == .skipped)
        #expect(stored?.finishedAt == t0 && stored?.durationMs == 0 && stored?.error == "run 7 still active")
    }
}
