import Foundation
import Testing
@testable import Scheduler
import SchedulerAPI

@Suite struct JobStoreTests {
    static let base = #"""
        {"jobs": [
          {"name": "backup", "shell": "backup.sh", "schedule": "0 3 * * *", "on_failure": "notify"},
          {"name": "notify", "shell": "notify.sh"},
          {"name": "ping", "command": ["ping", "-c1", "localhost"], "schedule": "@every 30s"}]}
        """#

    @Test func applyReportsCreatedUpdatedUnchangedRemoved() async throws {
        let temp = try TemporaryDatabase()
        let jobs = temp.database.jobs
        let first = try await jobs.apply(try jobFile(Self.base), now: t0)
        #expect(first == ApplyResult(created: ["backup", "notify", "ping"]))

        let again = try await jobs.apply(try jobFile(Self.base), now: t0)
        #expect(again == ApplyResult(unchanged: ["backup", "notify", "ping"]))

        let changed = try jobFile(#"{"jobs": [{"name": "ping", "command": ["ping", "-c2", "localhost"], "schedule": "@every 30s"}, {"name": "new", "shell": "x"}]}"#)
        let third = try await jobs.apply(changed, prune: false, now: t0.addingTimeInterval(60))
        #expect(third == ApplyResult(created: ["new"], updated: ["ping"]))
        let ping = try await jobs.job(named: "ping")
        #expect(ping?.spec.action == .command(["ping", "-c2", "localhost"]))
        #expect(ping?.createdAt == t0)
        #expect(ping?.updatedAt == t0.addingTimeInterval(60))
        #expect(try await jobs.names() == ["backup", "notify", "ping", "new"])
    }

    @Test func pruneRemovesJobsNotInTheFileButKeepsTheirHistory() async throws {
        let temp = try TemporaryDatabase()
        let db = temp.database
        _ = try await db.jobs.apply(try jobFile(Self.base))
        let run = try await db.runs.start(job: "ping", trigger: .schedule, scheduledAt: t0, startedAt: t0)
        try await db.runs.finish(run, RunOutcome(status: .succeeded, finishedAt: t0, exitCode: 0))
        let result = try await db.jobs.apply(try jobFile(#"{"jobs": [{"name": "backup", "shell": "backup.sh", "schedule": "0 3 * * *"}, {"name": "notify", "shell": "notify.sh"}]}"#), prune: true)
        #expect(result.removed == ["ping"])
        #expect(result.updated == ["backup"])
        #expect(try await db.jobs.names() == ["backup", "notify"])
        #expect(try await db.runs.run(id: run.id)?.job == "ping")
    }

    @Test func aRefusedApplyChangesNothing() async throws {
        let temp = try TemporaryDatabase()
        let db = temp.database
        _ = try await db.jobs.apply(try jobFile(Self.base), now: t0)
        try await db.jobs.setPaused("ping", paused: true)
        let before = try await temp.dump()

        // Pruning "notify" would leave "backup" triggering a missing job.
        let pruning = try jobFile(#"{"jobs": [{"name": "ping", "shell": "changed"}, {"name": "backup", "shell": "backup.sh", "on_failure": "notify"}]}"#,
                                  existing: ["notify"])
        await #expect(throws: APIError.self) { try await db.jobs.apply(pruning, prune: true, now: t0.addingTimeInterval(5)) }
        do {
            _ = try await db.jobs.apply(pruning, prune: true)
        } catch let error as APIError {
            #expect(error.code == .conflict)
            #expect(error.issues.map(\.description) == [#"jobs[1] "backup": on_failure: no job named "notify" (--prune would remove it)"#])
        }
        #expect(try await temp.dump() == before)

        // A file validated against an older snapshot: its reference is gone by the time it is applied.
        let stale = try jobFile(#"{"jobs": [{"name": "a", "shell": "x"}, {"name": "b", "shell": "y", "on_failure": "gone"}]}"#, existing: ["gone"])
        await #expect(throws: APIError.self) { try await db.jobs.apply(stale, now: t0.addingTimeInterval(5)) }
        #expect(try await temp.dump() == before)

        // A dry run reports, and writes nothing.
        let dry = try await db.jobs.apply(try jobFile(#"{"jobs": [{"name": "z", "shell": "x"}]}"#), dryRun: true)
        #expect(dry == ApplyResult(created: ["z"], dryRun: true))
        #expect(try await temp.dump() == before)
    }

    @Test func removeKeepsHistoryAndRefusesWhileTriggered() async throws {
        let temp = try TemporaryDatabase()
        let db = temp.database
        _ = try await db.jobs.apply(try jobFile(Self.base))
        await #expect(throws: APIError.self) { try await db.jobs.remove(named: "notify") }
        await #expect(throws: APIError.self) { try await db.jobs.remove(named: "nope") }
        try await db.jobs.remove(named: "backup")
        try await db.jobs.remove(named: "notify")
        #expect(try await db.jobs.names() == ["ping"])
    }

    @Test func pauseAndResume() async throws {
        let temp = try TemporaryDatabase()
        let jobs = temp.database.jobs
        _ = try await jobs.apply(try jobFile(Self.base))
        var state = JobState(consecutiveFailures: 4, nextRunAt: t0, lastFireAt: t0.addingTimeInterval(-60))
        try await jobs.saveState("backup", state)
        try await jobs.setPaused("backup", paused: true, reason: "failure_threshold")
        state.paused = true
        state.pauseReason = "failure_threshold"
        #expect(try await jobs.job(named: "backup")?.state == state)
        try await jobs.setPaused("backup", paused: false)
        let resumed = try await jobs.job(named: "backup")?.state
        #expect(resumed?.paused == false && resumed?.pauseReason == nil && resumed?.consecutiveFailures == 0)
        #expect(resumed?.nextRunAt == t0)
        await #expect(throws: APIError.self) { try await jobs.setPaused("nope", paused: true) }
    }

    @Test func stateCountsAgreeWithEachJobsState() async throws {
        let temp = try TemporaryDatabase()
        let jobs = temp.database.jobs
        #expect(try await jobs.stateCounts() == .init(total: 0, active: 0, paused: 0, failed: 0, disabled: 0))
        _ = try await jobs.apply(try jobFile(#"""
            {"jobs": [{"name": "a1", "shell": "x"}, {"name": "a2", "shell": "x"}, {"name": "off", "shell": "x", "enabled": false},
                      {"name": "p", "shell": "x"}, {"name": "t", "shell": "x"}, {"name": "f", "shell": "x"},
                      {"name": "off-p", "shell": "x", "enabled": false}]}
            """#))
        try await jobs.setPaused("p", paused: true)
        try await jobs.setPaused("t", paused: true, reason: "failure_threshold")
        try await jobs.setPaused("f", paused: true, reason: "restart_limit")
        try await jobs.setPaused("off-p", paused: true)
        let states = try await jobs.all().map(JobSummary.state(of:))
        func n(_ state: String) -> Int { states.filter { $0 == state }.count }
        let problems = [StatusResponse.Problem(job: "f", state: "failed", reason: "restart_limit"),
                        StatusResponse.Problem(job: "t", state: "paused", reason: "failure_threshold")]
        let expected = StatusResponse.Jobs(total: states.count, active: n("active"), paused: n("paused"), failed: n("failed"), disabled: n("disabled"),
                                           problems: problems)
        #expect(expected == .init(total: 7, active: 2, paused: 3, failed: 1, disabled: 1, problems: problems))
        #expect(try await jobs.stateCounts() == expected)
    }

    @Test func disabledJobsAreStoredAsDisabled() async throws {
        let temp = try TemporaryDatabase()
        _ = try await temp.database.jobs.apply(try jobFile(#"{"jobs": [{"name": "off", "shell": "x", "enabled": false}]}"#))
        let enabled = try await temp.database.pool.read { db in try Bool.fetchOne(db, sql: "SELECT enabled FROM jobs WHERE name = 'off'") }
        #expect(enabled == false)
    }
}
