import Foundation
import Testing
@testable import Scheduler

@Suite struct WakeAlarmTests {
    /// Runs `body` with an alarm running on `clock`, and stops it after.
    func withAlarm(_ clock: ManualClock, _ body: (WakeAlarm, Wakeup) async throws -> Void) async throws {
        let alarm = WakeAlarm()
        let wakeup = Wakeup()
        try await whileServing({ await alarm.run(clock: clock, wakeup: wakeup) }, stop: alarm.stop) { try await body(alarm, wakeup) }
    }

    @Test func itSignalsAtTheDeadlineAndOnlyThen() async throws {
        let clock = ManualClock(t0)
        try await withAlarm(clock) { alarm, wakeup in
            alarm.set(t0.addingTimeInterval(10))
            try await waitFor("the alarm to sleep until the deadline") { clock.nextDeadline == t0.addingTimeInterval(10) }
            clock.advance(to: t0.addingTimeInterval(9))
            // Still asleep until the same time: nothing signalled (the sleep did not end).
            #expect(clock.nextDeadline == t0.addingTimeInterval(10))
            #expect(!wakeup.isPending)
            clock.advance(to: t0.addingTimeInterval(10))
            await wakeup.wait()
        }
    }

    /// What the engine's main loop does on every turn: setting the same or a later deadline
    /// starts no new sleep (each sleep cut short costs memory until its time).
    @Test func aDeadlineSetAgainOrLaterStartsNoNewSleep() async throws {
        let clock = ManualClock(t0)
        try await withAlarm(clock) { alarm, wakeup in
            alarm.set(t0.addingTimeInterval(30))
            try await waitFor("the alarm to sleep") { clock.nextDeadline == t0.addingTimeInterval(30) }
            let begun = clock.sleepsBegun
            for turn in 0..<1000 { alarm.set(t0.addingTimeInterval(30 + Double(turn % 2) * 30)) }
            alarm.set(t0.addingTimeInterval(60))
            #expect(clock.sleepsBegun == begun)
            // At the old time it finds the deadline moved and sleeps on without signalling: its
            // new sleep is the barrier after which no signal can come from the first.
            clock.advance(to: t0.addingTimeInterval(30))
            try await waitFor("the alarm to sleep until the later deadline") { clock.nextDeadline == t0.addingTimeInterval(60) }
            #expect(!wakeup.isPending)
            clock.advance(to: t0.addingTimeInterval(60))
            await wakeup.wait()
        }
    }

    @Test func anEarlierDeadlineCutsTheSleepShort() async throws {
        let clock = ManualClock(t0)
        try await withAlarm(clock) { alarm, wakeup in
            alarm.set(t0.addingTimeInterval(60))
            try await waitFor("the alarm to sleep") { clock.nextDeadline == t0.addingTimeInterval(60) }
            alarm.set(t0.addingTimeInterval(5))
            try await waitFor("the alarm to sleep until the earlier deadline") { clock.nextDeadline == t0.addingTimeInterval(5) }
            clock.advance(to: t0.addingTimeInterval(5))
            await wakeup.wait()
        }
    }

    @Test func noDeadlineMeansNoSleepAndAPastOneSignalsAtOnce() async throws {
        let clock = ManualClock(t0)
        try await withAlarm(clock) { alarm, wakeup in
            alarm.set(t0.addingTimeInterval(20))
            try await waitFor("the alarm to sleep") { clock.nextDeadline != nil }
            // Taken back: the sleep runs out, but nothing is signalled for it.
            alarm.set(nil)
            clock.advance(to: t0.addingTimeInterval(20))
            // Its next sleep is the barrier: it has looked at the one that ran out by then.
            alarm.set(t0.addingTimeInterval(40))
            try await waitFor("the alarm to sleep until the next deadline") { clock.nextDeadline == t0.addingTimeInterval(40) }
            #expect(!wakeup.isPending)
            // A deadline already past: signalled at once.
            alarm.set(t0)
            await wakeup.wait()
        }
    }

    @Test func itStopsWhenCancelled() async throws {
        let clock = ManualClock(t0)
        let alarm = WakeAlarm()
        let task = Task { await alarm.run(clock: clock, wakeup: Wakeup()) }
        alarm.set(t0.addingTimeInterval(3600))
        try await waitFor("the alarm to sleep") { clock.nextDeadline != nil }
        task.cancel()
        await task.value
        #expect(clock.nextDeadline == nil)
    }

    /// The engine's turns (two per run, here 200 runs) do not each start a sleep while a
    /// scheduled job's next fire is the deadline, nor does each run's timeout.
    @Test func theEngineStartsNoSleepPerRun() async throws {
        let clock = ManualClock(t0)
        let jobs = #"{"jobs": [{"name": "hourly", "handler": "ok", "schedule": "@every 1h"}, {"name": "now", "handler": "ok", "concurrency": "allow", "timeout": "1h"}]}"#
        try await withEngine(jobs: jobs, handlers: ["ok": { _ in }], clock: clock) { engine, log, _ in
            await engine.untilIdle()
            let begun = clock.sleepsBegun
            for _ in 0..<200 { _ = try await engine.runNow("now", force: true) }
            try await waitFor("the 200 runs") { await log.finished.count == 200 }
            await engine.untilIdle()
            #expect(clock.sleepsBegun - begun <= 2, "sleeps begun for 200 runs: \(clock.sleepsBegun - begun)")
        }
    }
}
