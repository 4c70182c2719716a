import Foundation
import Testing
@testable import Scheduler
import SchedulerAPI

/// The wall clock stepped (`date -s`, NTP stepping a clock that was far off) while the engine
/// runs: intervals go on, cron slots do not run twice, and delays keep their real length.
@Suite struct ClockStepTests {
    let handlers: [String: JobHandler] = ["ok": { _ in }, "fail": { _ in throw TestError() }]

    @Test func aStepIsToldFromTimePassing() {
        let clock = ManualClock(t0)
        var watch = ClockStepWatch()
        #expect(watch.step(clock) == nil)
        clock.advance(by: 3600)
        #expect(watch.step(clock) == nil)
        clock.step(by: -90)
        #expect(watch.step(clock) == -90)
        clock.step(by: 0.5)
        #expect(watch.step(clock) == nil)
        clock.advance(by: 10)
        clock.step(by: 7200)
        #expect(watch.step(clock) == 7200)
        // A clock that cannot tell (no monotonic time) never reports one.
        struct WallOnly: SchedulerClock {
            let date: Date
            func now() -> Date { date }
            func sleep(until deadline: Date) async throws {}
        }
        var other = ClockStepWatch()
        #expect(other.step(WallOnly(date: t0)) == nil)
        #expect(other.step(WallOnly(date: t0.addingTimeInterval(-3600))) == nil)
    }

    /// Set back an hour, an `@every 10s` job runs ten seconds later, not an hour later.
    /// The wake-up alarm looks for a step or a change of zone, then sleeps: one that comes
    /// in between must end the sleep, not wait for the deadline (an hour here).
    @Test(arguments: [false, true]) func theSystemClocksSleepReturnsOnAChangeSinceItsCallerLooked(zone: Bool) async throws {
        let clock = SystemClock()
        let now = Date()
        let stale = zone
            ? ClockStepWatch(wall: now, monotonic: SystemClock.bootTime(), zone: "Test/NotTheHostsZone")
            : ClockStepWatch(wall: now.addingTimeInterval(-3600), monotonic: SystemClock.bootTime(), zone: clock.localZone()?.identifier)
        let returned = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                try? await clock.sleep(until: now.addingTimeInterval(3600), since: stale)
                return true
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(60))
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        #expect(returned)
    }

    @Test func anIntervalGoesOnWhenTheClockIsSetBack() async throws {
        let clock = ManualClock(t0.addingTimeInterval(5))
        try await withEngine(jobs: #"{"jobs": [{"name": "tick", "handler": "ok", "schedule": "@every 10s"}]}"#,
                             handlers: handlers, clock: clock) { engine, log, db in
            clock.advance(to: t0.addingTimeInterval(10))
            try await waitFor("the first run") { await log.finished.count == 1 }
            clock.step(by: -3600)
            try await waitFor("the engine to see the step") { await engine.clockStepsSeen == 1 }
            await engine.untilIdle()
            #expect(try await db.job(named: "tick")?.state.nextRunAt == t0.addingTimeInterval(20 - 3600))
            clock.advance(by: 10)
            try await waitFor("the run after the step") { await log.finished.count == 2 }
            #expect(await log.finished.map(\.scheduledAt) == [t0.addingTimeInterval(10), t0.addingTimeInterval(20 - 3600)])
        }
    }

    /// Set back past a slot that has run, a cron job does not run it again (as cron does).
    @Test func aCronSlotDoesNotRunTwiceWhenTheClockIsSetBack() async throws {
        let clock = ManualClock(t0.addingTimeInterval(5))
        try await withEngine(jobs: #"{"jobs": [{"name": "cron", "handler": "ok", "schedule": "*/10 * * * * *"}]}"#,
                             handlers: handlers, clock: clock) { engine, log, _ in
            clock.advance(to: t0.addingTimeInterval(10))
            try await waitFor("the first run") { await log.finished.count == 1 }
            clock.step(by: -8)
            try await waitFor("the engine to see the step") { await engine.clockStepsSeen == 1 }
            await engine.untilIdle()
            clock.advance(to: t0.addingTimeInterval(10))
            await engine.untilIdle()
            #expect(await log.finished.count == 1)
            clock.advance(to: t0.addingTimeInterval(20))
            try await waitFor("the next slot") { await log.finished.count == 2 }
            #expect(await log.finished.map(\.scheduledAt) == [t0.addingTimeInterval(10), t0.addingTimeInterval(20)])
        }
    }

    /// Set forward an hour, a run with a 10 s timeout is not timed out: it has 10 s of real time.
    @Test func aTimeoutKeepsItsLengthWhenTheClockIsSetForward() async throws {
        let gate = Gate()
        let clock = ManualClock(t0)
        try await withEngine(jobs: #"{"jobs": [{"name": "j", "handler": "block", "timeout": "10s"}]}"#,
                             handlers: ["block": { _ in try await gate.wait() }], clock: clock) { engine, log, _ in
            _ = try await engine.runNow("j")
            try await waitFor("the run to start") { await log.started.count == 1 }
            try await waitFor("the timeout to be set") { clock.nextDeadline == t0.addingTimeInterval(10) }
            clock.step(by: 3600)
            // The timeouts' task has moved the deadline with the clock: it sleeps until then.
            try await waitFor("the timeout to move") { clock.nextDeadline == t0.addingTimeInterval(3610) }
            gate.open()
            try await waitFor("the run to end") { await log.finished.count == 1 }
            #expect(await log.finished.first?.status == .succeeded)
        }
    }

    /// A run that spans a step has the time it really took as its duration; its start and end
    /// are the wall clock's at the time.
    @Test func aRunThatSpansAStepKeepsItsRealDuration() async throws {
        let gate = Gate()
        let clock = ManualClock(t0)
        try await withEngine(jobs: #"{"jobs": [{"name": "j", "handler": "block"}]}"#,
                             handlers: ["block": { _ in try await gate.wait() }], clock: clock) { engine, log, db in
            _ = try await engine.runNow("j")
            try await waitFor("the run to start") { await log.started.count == 1 }
            clock.advance(by: 2)
            clock.step(by: 3600)
            clock.advance(by: 3)
            gate.open()
            try await waitFor("the run to end") { await log.finished.count == 1 }
            let finished = try #require(await log.finished.first)
            #expect(finished.durationMs == 5_000)
            #expect(finished.finishedAt == t0.addingTimeInterval(3605))
            try await waitFor("its row") { try await db.run(id: finished.id)?.status == .succeeded }
            #expect(try await db.run(id: finished.id)?.durationMs == 5_000)
        }
    }

    /// Set forward an hour, a retry due in 10 s is still due in 10 s.
    @Test func aRetryKeepsItsBackoffWhenTheClockIsSetForward() async throws {
        let clock = ManualClock(t0)
        try await withEngine(jobs: #"{"jobs": [{"name": "flaky", "handler": "fail", "retries": 1, "retry_backoff": "20s"}]}"#,
                             handlers: handlers, clock: clock) { engine, log, _ in
            _ = try await engine.runNow("flaky")
            try await waitFor("the first attempt") { await log.finished.count == 1 }
            await engine.untilIdle()
            clock.step(by: 3600)
            try await waitFor("the engine to see the step") { await engine.clockStepsSeen == 1 }
            await engine.untilIdle()
            clock.advance(by: 5)
            await engine.untilIdle()
            #expect(await log.finished.count == 1)
            clock.advance(by: 5)
            try await waitFor("the retry") { await log.finished.count == 2 }
            let retry = try #require(await log.finished.last)
            #expect(retry.trigger == .retry)
            #expect(retry.startedAt == t0.addingTimeInterval(3610))
        }
    }
}
