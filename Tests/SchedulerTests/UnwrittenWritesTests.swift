import Foundation
import Testing
@testable import Scheduler
import SchedulerAPI

/// A store that refuses writes for a while (a full disk): what it refused is kept and written
/// once it takes writes again, and the engine says meanwhile that it is in trouble.
@Suite struct UnwrittenWritesTests {
    struct DiskFull: Error, CustomStringConvertible {
        var description: String { "database or disk is full" }
    }

    /// An engine on a store that refuses writes while told to, its clock at `start`.
    func withRefusingStore(jobs: String, handlers: [String: JobHandler], start: Date = t0,
                           _ body: (JobScheduler, EventLog, MemoryStore, ManualClock) async throws -> Void) async throws {
        let clock = ManualClock(start)
        let store = MemoryStore()
        try await withEngine(jobs: jobs, handlers: handlers, clock: clock, store: store) { engine, log, _ in
            try await body(engine, log, store, clock)
        }
    }

    /// Runs `j` (held by `gate`) and lets it end while the store refuses writes; its id.
    func endWhileRefused(_ engine: JobScheduler, _ log: EventLog, _ store: MemoryStore, _ gate: Gate) async throws -> Int64 {
        _ = try await engine.runNow("j")
        try await waitFor("the run to start") { await log.started.count == 1 }
        let id = try #require(await log.started.first?.id)
        store.failWrites(with: DiskFull())
        gate.open()
        try await waitFor("the run to end") { await log.finished.count == 1 }
        await engine.untilIdle()
        return id
    }

    @Test func aRunsEndTheStoreRefusedIsWrittenOnceItTakesWritesAgain() async throws {
        let gate = Gate()
        try await withRefusingStore(jobs: #"{"jobs": [{"name": "j", "handler": "block"}]}"#,
                                    handlers: ["block": { _ in try await gate.wait() }]) { engine, log, store, clock in
            #expect(await engine.load().storeTrouble == nil)
            let id = try await endWhileRefused(engine, log, store, gate)
            // Reported as it ended, kept in memory, not on disk yet.
            #expect(await log.finished.first?.status == .succeeded)
            #expect(try await store.run(id: id)?.status == .running)
            var trouble = try #require(await engine.load().storeTrouble)
            #expect(trouble.error == "database or disk is full")
            #expect(trouble.since == t0)
            #expect(trouble.unwrittenRunEnds == 1)
            #expect(await engine.summary().contains("database writes failing"))

            // Tried again after a second, refused again: still kept.
            clock.advance(by: 1)
            await engine.untilIdle()
            #expect(try await store.run(id: id)?.status == .running)
            trouble = try #require(await engine.load().storeTrouble)
            #expect(trouble.unwrittenRunEnds == 1)
            #expect(trouble.since == t0)

            // The disk has room again: written at the next try (two seconds on, the backoff
            // doubled), as it ended.
            store.failWrites(with: nil)
            clock.advance(by: 1)
            await engine.untilIdle()
            #expect(try await store.run(id: id)?.status == .running)
            clock.advance(by: 1)
            await engine.untilIdle()
            let written = try #require(try await store.run(id: id))
            #expect(written.status == .succeeded)
            #expect(written.finishedAt == t0)
            #expect(await engine.load().storeTrouble == nil)
        }
    }

    @Test func aRefusedEndIsWrittenAtOnceWhenAnotherWriteGoesThrough() async throws {
        let gate = Gate()
        try await withRefusingStore(jobs: #"{"jobs": [{"name": "j", "handler": "block"}, {"name": "k", "handler": "ok"}]}"#,
                                    handlers: ["block": { _ in try await gate.wait() }, "ok": { _ in }]) { engine, log, store, _ in
            let id = try await endWhileRefused(engine, log, store, gate)
            store.failWrites(with: nil)
            // A run's start and end go through, so the store takes writes: the kept end follows
            // without waiting for its retry time (the clock does not move).
            _ = try await engine.runNow("k")
            try await waitFor("k to end") { await log.finished.count == 2 }
            await engine.untilIdle()
            #expect(try await store.run(id: id)?.status == .succeeded)
            #expect(await engine.load().storeTrouble == nil)
        }
    }

    @Test func aPauseTheStoreRefusedIsWrittenLaterAndHeldMeanwhile() async throws {
        try await withRefusingStore(jobs: #"{"jobs": [{"name": "tick", "handler": "ok", "schedule": "*/10 * * * * *"}]}"#, handlers: ["ok": { _ in }],
                                    start: t0.addingTimeInterval(5)) { engine, log, store, clock in
            store.failWrites(with: DiskFull())
            await engine.pause("tick")
            let stored = try #require(try await store.job(named: "tick"))
            #expect(!stored.state.paused)
            #expect(await engine.load().storeTrouble?.unwrittenJobStates == 1)
            // What the API shows is what is in effect.
            #expect(await engine.withUnwrittenStates([stored]).first?.state.paused == true)
            // The engine goes by the pause: the slot at :10 does not fire.
            clock.advance(to: t0.addingTimeInterval(10))
            await engine.untilIdle()
            #expect(await log.started.isEmpty)
            store.failWrites(with: nil)
            // Its first retry (at :06) was refused too, so the next one waits two seconds.
            clock.advance(by: 2)
            await engine.untilIdle()
            let state = try #require(try await store.job(named: "tick")?.state)
            #expect(state.paused)
            #expect(state.pauseReason == "manual")
            #expect(await engine.load().storeTrouble == nil)
        }
    }

    /// A slot whose start the store refused did not run: once the store takes writes, the
    /// history says so (a `skipped` run with the reason) instead of having a silent gap.
    @Test func aRunWhoseStartWasRefusedIsRecordedAsSkippedLater() async throws {
        try await withRefusingStore(jobs: #"{"jobs": [{"name": "tick", "handler": "ok", "schedule": "*/10 * * * * *"}]}"#, handlers: ["ok": { _ in }],
                                    start: t0.addingTimeInterval(5)) { engine, log, store, clock in
            store.failWrites(with: DiskFull())
            clock.advance(to: t0.addingTimeInterval(10))
            await engine.untilIdle()
            #expect(await log.started.isEmpty)
            #expect(await engine.load().storeTrouble?.unwrittenSkippedRuns == 1)
            #expect(try await store.history(HistoryQuery(job: "tick"), withOutput: false).isEmpty)
            store.failWrites(with: nil)
            clock.advance(by: 1)
            await engine.untilIdle()
            let runs = try await store.history(HistoryQuery(job: "tick"), withOutput: false)
            #expect(runs.map(\.status) == [.skipped])
            #expect(runs.first?.scheduledAt == t0.addingTimeInterval(10))
            #expect(runs.first?.error?.contains("its start could not be recorded (database or disk is full)") == true)
            #expect(await engine.load().storeTrouble == nil)
            // Announced as it is written, as every skip is.
            #expect(await log.finished.map(\.status) == [.skipped])
        }
    }

    @Test func aStopWritesWhatWasRefusedOnceMore() async throws {
        let gate = Gate()
        let clock = ManualClock(t0)
        let store = MemoryStore()
        var id: Int64?
        try await withEngine(jobs: #"{"jobs": [{"name": "j", "handler": "block"}]}"#, handlers: ["block": { _ in try await gate.wait() }],
                             clock: clock, store: store) { engine, log, _ in
            id = try await endWhileRefused(engine, log, store, gate)
            // Room again, but the engine stops before its retry time: its stop writes it.
            store.failWrites(with: nil)
        }
        let runID = try #require(id)
        let run = try #require(try await store.run(id: runID))
        #expect(run.status == .succeeded)
    }

    @Test func theEndsKeptAreBoundedAndTheOldestGiveWay() throws {
        var unwritten = UnwrittenWrites()
        let ends = (1...Int64(UnwrittenWrites.maxEnds + 2)).map { id in
            (run: RunRecord(id: id, job: "j", trigger: .manual, attempt: 1, status: .running, startedAt: t0),
             outcome: RunOutcome(status: .succeeded, finishedAt: t0))
        }
        let dropped = unwritten.failed(DiskFull(), ends: Array(ends.suffix(2)), at: t0)
        #expect(dropped.isEmpty)
        #expect(unwritten.deadline == t0.addingTimeInterval(1))
        let more = unwritten.failed(DiskFull(), ends: Array(ends.prefix(UnwrittenWrites.maxEnds)), at: t0)
        #expect(more.map(\.run.id) == [1, 2])
        #expect(unwritten.ends.count == UnwrittenWrites.maxEnds)
        #expect(unwritten.ends.first?.run.id == 3)

        // A retry that fails waits twice as long; one that succeeds empties it.
        let taken = unwritten.take()
        #expect(unwritten.deadline == nil)
        _ = unwritten.finished(taken, error: DiskFull(), at: t0)
        #expect(unwritten.deadline == t0.addingTimeInterval(2))
        #expect(unwritten.ends.count == UnwrittenWrites.maxEnds)
        _ = unwritten.finished(unwritten.take(), error: nil, at: t0)
        #expect(unwritten.isEmpty)
        #expect(unwritten.failure == nil)
    }
}
