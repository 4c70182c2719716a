import Foundation
import Synchronization
import Testing
@testable import Scheduler
import SchedulerAPI

@Suite struct JobSchedulerTests {
    let ok: [String: JobHandler] = ["ok": { _ in }, "fail": { _ in throw TestError() }]

    @Test func aScheduleFiresAtEachSlotAndRecordsIt() async throws {
        let clock = ManualClock(t0.addingTimeInterval(5))  // 12:00:05
        try await withEngine(jobs: #"{"jobs": [{"name": "tick", "handler": "ok", "schedule": "*/10 * * * * *"}]}"#,
                             handlers: ok, clock: clock) { engine, log, db in
            clock.advance(to: t0.addingTimeInterval(10))
            try await waitFor("first run") { await log.finished.count == 1 }
            clock.advance(to: t0.addingTimeInterval(20))
            try await waitFor("second run") { await log.finished.count == 2 }
            let runs = await log.finished
            #expect(runs.map(\.status) == [.succeeded, .succeeded])
            #expect(runs.map(\.trigger) == [.schedule, .schedule])
            #expect(runs.map(\.scheduledAt) == [t0.addingTimeInterval(10), t0.addingTimeInterval(20)])
            let state = try await db.job(named: "tick")?.state
            #expect(state?.lastFireAt == t0.addingTimeInterval(20))
            #expect(state?.nextRunAt == t0.addingTimeInterval(30))
            #expect(state?.lastRunID == runs.last?.id)
        }
    }

    /// A handler is told the slot it fires for (kept by its retries) and the node; a manual
    /// run has no slot.
    @Test func aHandlerKnowsItsSlotAndItsNode() async throws {
        let clock = ManualClock(t0.addingTimeInterval(5))
        let seen = Mutex<[String]>([])
        let handlers: [String: JobHandler] = ["note": { context in
            seen.withLock { $0.append("\(context.attempt) \(context.scheduledAt.map(Timestamp.format) ?? "-") \(context.node)") }
            if context.attempt == 1 { throw TestError() }
        }]
        var configuration = JobScheduler.Configuration(workers: 2, shutdownGrace: .seconds(5), defaultTimeZone: "UTC")
        configuration.node = "n1"
        // One slot a minute: the next one (12:02) is far from what the test drives through.
        try await withEngine(jobs: #"{"jobs": [{"name": "tick", "handler": "note", "schedule": "0 * * * * *", "retries": 1, "retry_backoff": "1s"}]}"#,
                             handlers: handlers, clock: clock, configuration: configuration) { engine, log, _ in
            clock.advance(to: t0.addingTimeInterval(60))
            try await drive(clock, engine: engine, until: "a run and its retry") { await log.finished.count == 2 }
            _ = try await engine.runNow("tick")
            try await drive(clock, engine: engine, until: "the manual run and its retry") { await log.finished.count == 4 }
            let slot = Timestamp.format(t0.addingTimeInterval(60))
            #expect(seen.withLock { $0 } == ["1 \(slot) n1", "2 \(slot) n1", "1 - n1", "2 - n1"])
        }
    }

    /// What a handler logs names its job, its run and the handler, as the engine's own lines
    /// about the run do.
    @Test func aHandlersLoggerNamesItsRun() async throws {
        let seen = Mutex<[String]>([])
        let handlers: [String: JobHandler] = ["note": { context in
            let keys = ["schedd.job", "schedd.run_id", "schedd.handler"]
            seen.withLock { $0.append(keys.map { context.logger[metadataKey: $0].map { "\($0)" } ?? "-" }.joined(separator: " ")) }
        }]
        try await withEngine(jobs: #"{"jobs": [{"name": "noted", "handler": "note"}]}"#, handlers: handlers) { engine, log, _ in
            _ = try await engine.runNow("noted")
            try await waitFor("the run to end") { await log.finished.count == 1 }
            _ = try await engine.runNow("noted")
            try await waitFor("the second run to end") { await log.finished.count == 2 }
            let ids = await log.finished.map(\.id)
            #expect(seen.withLock { $0 } == ["noted \(ids[0]) note", "noted \(ids[1]) note"])
        }
    }

    /// A job pinned to another node is neither fired nor started here.
    @Test func aJobPinnedToAnotherNodeDoesNotRunHere() async throws {
        let clock = ManualClock(t0.addingTimeInterval(5))
        var configuration = JobScheduler.Configuration(workers: 2, shutdownGrace: .seconds(5), defaultTimeZone: "UTC")
        configuration.node = "n1"
        let jobs = #"{"jobs": [{"name": "there", "handler": "ok", "schedule": "*/10 * * * * *", "node": "n2"},"#
            + #"{"name": "here", "handler": "ok", "schedule": "*/10 * * * * *", "node": "n1"}]}"#
        try await withEngine(jobs: jobs, handlers: ok, clock: clock, configuration: configuration) { engine, log, _ in
            clock.advance(to: t0.addingTimeInterval(30))
            try await waitFor("the pinned-here job's run") { await log.finished.count >= 1 }
            await engine.untilIdle()
            #expect(await log.finished.allSatisfy { $0.job == "here" })
            await #expect { _ = try await engine.runNow("there") } throws: { error in
                (error as? APIError)?.message.contains("runs only on node n2") == true
            }
        }
    }

    @Test func retriesBackOffThenTheThresholdPausesAndOnFailureFires() async throws {
        let clock = ManualClock(t0)
        let jobs = #"""
            {"jobs": [{"name": "flaky", "handler": "fail", "retries": 2, "retry_backoff": "2s", "max_consecutive_failures": 2,
                       "on_failure": "notify"},
                      {"name": "notify", "handler": "ok"}]}
            """#
        try await withEngine(jobs: jobs, handlers: ok, clock: clock) { engine, log, db in
            _ = try await engine.runNow("flaky")
            try await drive(clock, engine: engine, until: "three attempts and a notification") {
                await log.finished.filter { $0.job == "notify" }.count == 1
            }
            let flaky = await log.finished.filter { $0.job == "flaky" }
            #expect(flaky.map(\.attempt) == [1, 2, 3])
            #expect(flaky.map(\.trigger) == [.manual, .retry, .retry])
            #expect(flaky.allSatisfy { $0.status == .failed && $0.error == "handler failed on purpose" })
            // Equal jitter with random 0: half the doubled backoff, 1s then 2s. (The clock is driven
            // in steps, so a retry may start later than its due time, never earlier.)
            #expect(flaky[1].startedAt.timeIntervalSince(flaky[0].finishedAt!) >= 1)
            #expect(flaky[2].startedAt.timeIntervalSince(flaky[1].finishedAt!) >= 2)
            #expect(await log.finished.first { $0.job == "notify" }?.trigger == .dependency)
            // A retry is told just before the end of the attempt it retries (`run --wait`
            // follows it); the last attempt has none.
            let events = await log.events
            let told = events.indices.compactMap { index -> (Int, Int64, RetryStatus)? in
                if case let .retryScheduled(_, runID, retry) = events[index] { return (index, runID, retry) } else { return nil }
            }
            #expect(told.map(\.1) == [flaky[0].id, flaky[1].id])
            // The last attempt's end triggers notify, told just before it too.
            let last = try #require(events.firstIndex(of: .runFinished(flaky[2])))
            #expect(last > 0 && events[last - 1] == .followUp(job: "flaky", runID: flaky[2].id, field: "on_failure", target: "notify"))
            #expect(events.count { if case .followUp = $0 { true } else { false } } == 1)
            #expect(told.map(\.2.attempt) == [2, 3])
            for (index, runID, retry) in told {
                #expect(events.indices.contains(index + 1) && events[index + 1] == .runFinished(flaky.first { $0.id == runID }!))
                #expect(retry.dueAt.timeIntervalSince(flaky.first { $0.id == runID }!.finishedAt!) >= 1)
            }
            #expect(try await db.job(named: "flaky")?.state.consecutiveFailures == 1)
            #expect(try await db.job(named: "flaky")?.state.paused == false)

            _ = try await engine.runNow("flaky")
            try await drive(clock, engine: engine, until: "the job is paused") {
                await log.events.contains { if case .jobPaused(job: "flaky", reason: "failure_threshold", _) = $0 { true } else { false } }
            }
            await engine.untilIdle()
            // Told once, just before the end of the run whose failure paused it (`run --wait`
            // says so), after that run's last retry.
            let paused = await log.events.enumerated().filter { if case .jobPaused = $0.element { true } else { false } }
            let lastAttempt = try #require(await log.finished.last { $0.job == "flaky" })
            #expect(lastAttempt.attempt == 3)
            #expect(paused.count == 1 && paused[0].element == .jobPaused(job: "flaky", reason: "failure_threshold", runID: lastAttempt.id))
            let all = await log.events
            #expect(all.indices.contains(paused[0].offset + 2) && all[paused[0].offset + 2] == .runFinished(lastAttempt))
            #expect(all[paused[0].offset + 1] == .followUp(job: "flaky", runID: lastAttempt.id, field: "on_failure", target: "notify"))
            let state = try await db.job(named: "flaky")?.state
            #expect(state?.paused == true && state?.pauseReason == "failure_threshold" && state?.consecutiveFailures == 2)

            try await engine.resume("flaky")
            #expect(try await db.job(named: "flaky")?.state.consecutiveFailures == 0)
        }
    }

    /// In a store shared by several nodes, which keeps each job's failures in a row: a success
    /// that ends its trigger sets them back to 0 with its end's write, and only a failure that
    /// counts asks the store for the count (a call per run's end was most of a cluster node's
    /// round trips to its database). A success among the same ends as a failure of its job
    /// that counts is asked too, in the ends' order.
    @Test func aSharedStoresFailuresInARowAreResetWithTheEndOfASuccess() async throws {
        let clock = ManualClock(t0)
        let store = MemoryStore(sharedByNodes: true)
        let failing = Mutex(true)
        let handlers: [String: JobHandler] = ["maybe": { _ in if failing.withLock({ $0 }) { throw TestError() } }]
        let jobs = #"{"jobs": [{"name": "flaky", "handler": "maybe", "max_consecutive_failures": 3}]}"#
        try await withEngine(jobs: jobs, handlers: handlers, clock: clock, store: store) { engine, log, db in
            for round in 1...2 {
                _ = try await engine.runNow("flaky")
                try await drive(clock, engine: engine, until: "failure \(round)") { await log.finished.count == round }
            }
            #expect(store.failureCounts == 2)
            #expect(try await db.job(named: "flaky")?.state.consecutiveFailures == 2)
            failing.withLock { $0 = false }
            _ = try await engine.runNow("flaky")
            try await drive(clock, engine: engine, until: "the success") { await log.finished.count == 3 }
            #expect(await log.finished.last?.status == .succeeded)
            #expect(try await db.job(named: "flaky")?.state.consecutiveFailures == 0)
            #expect(store.failureCounts == 2, "the success asked the store for the count")
            // Failing again counts from 0, and the job is not paused.
            failing.withLock { $0 = true }
            _ = try await engine.runNow("flaky")
            try await drive(clock, engine: engine, until: "the next failure") { await log.finished.count == 4 }
            #expect(try await db.job(named: "flaky")?.state.consecutiveFailures == 1)
            #expect(try await db.job(named: "flaky")?.state.paused == false)
        }
    }

    /// Which ends of one turn reset their job's failures in a row with their write: not a
    /// success of a job whose failure that counts ends in the same turn (two runs of it at
    /// once), whose count then follows the ends' order call by call; a failure that is retried
    /// does not count yet. Not a service's success either (its restarts count apart).
    @Test func aSuccessDoesNotResetFailuresInARowBesideACountingFailureOfItsJob() {
        typealias End = JobScheduler.EndSummary
        let resets = JobScheduler.resetsFailuresInARow([
            End(job: "mixed", status: .succeeded, retried: false, isService: false),
            End(job: "mixed", status: .failed, retried: false, isService: false),
            End(job: "retrying", status: .timedOut, retried: true, isService: false),
            End(job: "retrying", status: .succeeded, retried: false, isService: false),
            End(job: "alone", status: .succeeded, retried: false, isService: false),
            End(job: "svc", status: .succeeded, retried: false, isService: true),
            End(job: "stopped", status: .cancelled, retried: false, isService: false),
            End(job: "lost", status: .interrupted, retried: false, isService: false),
            End(job: "lost", status: .succeeded, retried: false, isService: false),
        ])
        #expect(resets == [false, false, false, true, true, false, false, false, false])
    }

    /// A retry waiting for its time when the engine stops is taken up by the next engine on the
    /// same store, when it was due (not at once, not lost).
    @Test func aWaitingRetryOutlivesARestart() async throws {
        let store = MemoryStore()
        let clock = ManualClock(t0)
        // With random 0, half the doubled backoff: due 2 h after the failure. (The harness moves
        // the clock an hour on as it stops an engine.)
        let jobs = #"""
            {"jobs": [{"name": "flaky", "handler": "fail", "retries": 1, "retry_backoff": "4h", "retry_backoff_max": "10h",
                       "on_failure": "notify"},
                      {"name": "notify", "handler": "ok"}]}
            """#
        try await withEngine(jobs: jobs, handlers: ok, clock: clock, store: store) { engine, log, _ in
            try await firstAttemptFails("flaky", engine, log)
        }
        let due = t0.addingTimeInterval(7200)
        let pending = try await store.pendingRetries()
        #expect(pending.count == 1 && pending.first?.due == due)
        try await withEngine(jobs: jobs, handlers: ok, clock: clock, store: store) { engine, log, _ in
            clock.advance(to: due.addingTimeInterval(-1))
            await engine.untilIdle()
            let early = await log.started
            #expect(early.isEmpty, "the retry started before it was due: \(early)")
            try await drive(clock, engine: engine, until: "the retry and the notification") {
                await log.finished.contains { $0.job == "notify" }
            }
            let retry = try #require(await log.finished.first { $0.job == "flaky" })
            #expect(retry.trigger == .retry && retry.attempt == 2 && retry.startedAt >= due)
            #expect(await log.finished.first { $0.job == "notify" }?.trigger == .dependency)
            await engine.untilIdle()
            #expect(try await store.pendingRetries().isEmpty)
        }
    }

    /// A failed attempt's retry is marked in the write of the run's end, not in a write after
    /// it (a crash between the two lost the retry): with every other write of a mark failing,
    /// the retry is pending in the store all the same, and the next engine takes it up.
    @Test func aRetrysMarkIsWrittenWithTheRunsEnd() async throws {
        let store = MemoryStore()
        store.failRetryMarks(with: TestError())
        let clock = ManualClock(t0)
        let jobs = #"{"jobs": [{"name": "flaky", "handler": "fail", "retries": 1, "retry_backoff": "4h"}]}"#
        try await withEngine(jobs: jobs, handlers: ok, clock: clock, store: store) { engine, log, _ in
            try await firstAttemptFails("flaky", engine, log)
            #expect(try await store.pendingRetries().map(\.due) == [t0.addingTimeInterval(7200)])
        }
        store.failRetryMarks(with: nil)
        try await withEngine(jobs: jobs, handlers: ok, clock: clock, store: store) { engine, log, _ in
            clock.advance(to: t0.addingTimeInterval(7200))
            try await drive(clock, engine: engine, until: "the retry taken up") { await log.finished.count == 1 }
            let retry = try #require(await log.finished.first)
            #expect(retry.trigger == .retry && retry.attempt == 2 && retry.retryOf == 1)
        }
    }

    /// An engine with a job "flaky" whose first attempt has failed, with one retry, on a store
    /// that refuses the retry's start while `refusing.busy` (a run of the job goes on on node
    /// n2), counting the asks.
    func withRetryRefusedElsewhere(_ body: (JobScheduler, EventLog, MemoryStore, ManualClock, RetriesRefusedElsewhere) async throws -> Void) async throws {
        let refusing = RetriesRefusedElsewhere()
        let store = MemoryStore(claim: { refusing.claim($0) })
        let clock = ManualClock(t0)
        let jobs = #"{"jobs": [{"name": "flaky", "handler": "fail", "retries": 1, "retry_backoff": "10s"}]}"#
        try await withEngine(jobs: jobs, handlers: ok, clock: clock, store: store) { engine, log, _ in
            try await firstAttemptFails("flaky", engine, log)
            try await body(engine, log, store, clock, refusing)
        }
    }

    /// A retry of a job that may not overlap itself asks its store to wait for the job's runs
    /// on other nodes (`waitsForJob`); refused while one goes on there, it is asked for again
    /// after `claimRetry`, and starts once the other run is over.
    @Test func aRetryRefusedWhileItsJobRunsElsewhereIsAskedForAgain() async throws {
        try await withRetryRefusedElsewhere { engine, log, store, clock, refusing in
            // Due 5 s after it (random 0: half the backoff), refused, asked again 5 s later.
            try await drive(clock, engine: engine, until: "the retry refused twice") { refusing.asked == 2 }
            #expect(await log.started.count == 1, "the retry started while its job ran elsewhere")
            #expect(try await store.pendingRetries().map(\.run.id) == [1], "the retry's mark went while it waited")
            refusing.busy = false
            try await drive(clock, engine: engine, until: "the retry") { await log.finished.count == 2 }
            let retry = try #require(await log.finished.last)
            #expect(retry.trigger == .retry && retry.attempt == 2 && retry.retryOf == 1)
        }
    }

    /// A retry refused while its job ran on another node is asked for again as soon as the
    /// store says a run of the job ended there, not only at its next look (`claimRetry` on),
    /// when a slot of the job started in between could keep it waiting again.
    @Test func aRetryWaitingForItsJobElsewhereIsAskedForWhenTheRunThereEnds() async throws {
        try await withRetryRefusedElsewhere { engine, log, _, clock, refusing in
            try await drive(clock, engine: engine, until: "the retry refused") { refusing.asked == 1 }
            await engine.untilIdle()
            // The end of another job's run asks nothing.
            await engine.runEndedElsewhere(job: "other")
            await engine.untilIdle()
            #expect(refusing.asked == 1)
            refusing.busy = false
            // The clock stands still: the retry's next look is `claimRetry` away.
            await engine.runEndedElsewhere(job: "flaky")
            try await waitFor("the retry", seconds: 10) { await log.finished.count == 2 }
            #expect(refusing.asked == 2)
            let retry = try #require(await log.finished.last)
            #expect(retry.trigger == .retry && retry.attempt == 2 && retry.retryOf == 1 && retry.status == .failed)
        }
    }

    /// A run by hand or a trigger of a `forbid` job asks its store to wait for the job's runs
    /// on other nodes; refused while one goes on there, it is recorded `skipped`, naming that
    /// run and its node, as one node skips it. A run by hand with `--force` is not held.
    @Test func aRunByHandOrATriggerRefusedWhileItsJobRunsElsewhereIsSkipped() async throws {
        let store = MemoryStore(claim: { start in
            start.job == "busy" && start.waitsForJob ? .jobBusyElsewhere(runID: 99, node: "n2") : nil
        })
        let jobs = #"{"jobs": [{"name": "busy", "handler": "ok"}, {"name": "pager", "handler": "fail", "on_failure": "busy"}]}"#
        try await withEngine(jobs: jobs, handlers: ok, store: store) { engine, log, _ in
            let manual = try await engine.start("busy", by: "uid 0 (root)")
            #expect(!manual.started && manual.run.status == .skipped && manual.run.trigger == .manual)
            #expect(manual.run.error == "skipped: run 99 is still active on node n2 (concurrency: forbid)")
            #expect(manual.run.triggeredBy == "uid 0 (root)")
            _ = try await engine.runNow("pager")
            try await waitFor("the trigger skipped") { await log.finished.contains { $0.job == "busy" && $0.trigger == .dependency } }
            let triggered = try #require(await log.finished.first { $0.job == "busy" && $0.trigger == .dependency })
            #expect(triggered.status == .skipped && triggered.error == "skipped: run 99 is still active on node n2 (concurrency: forbid)")
            let forced = try await engine.start("busy", force: true)
            #expect(forced.started && forced.run.status == .running)
            await engine.untilIdle()
            #expect(await log.started.filter { $0.job == "busy" }.map(\.id) == [forced.run.id])
        }
    }

    /// A slot of a `forbid` job that does not go through a queue asks its store to wait for
    /// the job's runs on other nodes, and is recorded `skipped` while one goes on there.
    @Test func aSlotRefusedWhileItsJobRunsElsewhereIsSkipped() async throws {
        let store = MemoryStore(claim: { start in
            start.trigger == .schedule && start.waitsForJob ? .jobBusyElsewhere(runID: 99, node: "n2") : nil
        })
        let clock = ManualClock(t0)
        let jobs = #"{"jobs": [{"name": "tick", "handler": "ok", "schedule": "@every 1m"}]}"#
        try await withEngine(jobs: jobs, handlers: ok, clock: clock, store: store) { engine, log, _ in
            try await drive(clock, engine: engine, until: "a slot") { await !log.finished.isEmpty }
            let slot = try #require(await log.finished.first)
            #expect(slot.status == .skipped && slot.trigger == .schedule && slot.scheduledAt != nil)
            #expect(slot.error == "skipped: run 99 is still active on node n2 (concurrency: forbid)")
            await engine.untilIdle()
            #expect(await log.started.isEmpty)
        }
    }

    /// Two failed runs wait for their retries; the first one's retry runs, then the engine
    /// stops: the next engine takes up the other retry (the first retry's row voided both
    /// marks, and it was lost).
    @Test func aWaitingRetryOutlivesARestartAfterAnotherRetryOfItsJobRan() async throws {
        let store = MemoryStore()
        let clock = ManualClock(t0)
        let jobs = #"{"jobs": [{"name": "flaky", "handler": "fail", "retries": 1, "retry_backoff": "1m"}]}"#
        try await withEngine(jobs: jobs, handlers: ok, clock: clock, store: store) { engine, log, _ in
            _ = try await engine.runNow("flaky")
            try await waitFor("the first run to fail") { await log.finished.count == 1 }
            await engine.untilIdle()
            clock.advance(by: 1)
            _ = try await engine.runNow("flaky")
            try await waitFor("the second run to fail") { await log.finished.count == 2 }
            await engine.untilIdle()
            #expect(try await store.pendingRetries().count == 2)
            // The first failure's retry is due 30 s after it (random 0: half the backoff).
            clock.advance(to: t0.addingTimeInterval(30))
            try await waitFor("the first retry to end") { await log.finished.count == 3 }
            await engine.untilIdle()
        }
        let second = try #require(try await store.history(HistoryQuery(job: "flaky"), withOutput: false).first { $0.id == 2 })
        #expect(try await store.pendingRetries().map(\.run.id) == [second.id])
        try await withEngine(jobs: jobs, handlers: ok, clock: clock, store: store) { engine, log, _ in
            try await drive(clock, engine: engine, until: "the other retry") { await log.finished.count == 1 }
            let retry = try #require(await log.finished.first)
            #expect(retry.trigger == .retry && retry.retryOf == second.id)
            await engine.untilIdle()
            #expect(try await store.pendingRetries().isEmpty)
        }
    }

    /// Cancelling a job drops its retries that have not started, each recorded `skipped` with
    /// who cancelled it: otherwise nothing could stop a retry but removing the job.
    @Test func cancellingAJobDropsItsWaitingRetry() async throws {
        let store = MemoryStore()
        let clock = ManualClock(t0)
        let jobs = #"{"jobs": [{"name": "flaky", "handler": "fail", "retries": 2, "retry_backoff": "1m"}]}"#
        try await withEngine(jobs: jobs, handlers: ok, clock: clock, store: store) { engine, log, _ in
            try await firstAttemptFails("flaky", engine, log)
            #expect(await engine.pendingRetry("flaky")?.attempt == 2)
            let cancelled = try await engine.cancel(job: "flaky", by: "uid 0 (root)")
            #expect(cancelled.runs.isEmpty && cancelled.retries.count == 1)
            try await waitFor("the skip to be told") { await log.finished.count == 2 }
            let skipped = try #require(await log.finished.last)
            #expect(skipped.id == cancelled.retries.first && skipped.status == .skipped && skipped.trigger == .retry && skipped.attempt == 2)
            #expect(skipped.error == "skipped: cancelled before it started by uid 0 (root)")
            #expect(await engine.pendingRetry("flaky") == nil)
            clock.advance(by: 3600)
            await engine.untilIdle()
            #expect(await log.started.count == 1, "the cancelled retry ran")
            #expect(try await store.pendingRetries().isEmpty)
            // Nothing left: nothing cancelled.
            #expect(try await engine.cancel(job: "flaky") == CancelledRuns(runs: [], retries: []))
        }
    }

    /// Cancelling a failed run drops its retry that has not started, and that one alone: the
    /// retry of another failed run of the job still runs.
    @Test func cancellingAFailedRunDropsItsRetry() async throws {
        let store = MemoryStore()
        let clock = ManualClock(t0)
        let jobs = #"{"jobs": [{"name": "flaky", "handler": "fail", "retries": 1, "retry_backoff": "1m", "concurrency": "allow"},"#
            + #" {"name": "thrice", "handler": "fail", "retries": 2, "retry_backoff": "1m"}]}"#
        try await withEngine(jobs: jobs, handlers: ok, clock: clock, store: store) { engine, log, _ in
            _ = try await engine.runNow("flaky")
            try await waitFor("the first run to fail") { await log.finished.count == 1 }
            _ = try await engine.runNow("flaky")
            try await waitFor("the second run to fail") { await log.finished.count == 2 }
            let (first, second) = (await log.finished[0], await log.finished[1])
            await engine.untilIdle()
            #expect(try await store.pendingRetries().count == 2)
            let cancelled = try await engine.cancel(runID: first.id, by: "uid 0 (root)")
            #expect(cancelled.runs.isEmpty && cancelled.retries.count == 1)
            try await waitFor("the skip to be told") { await log.finished.count == 3 }
            let skipped = try #require(await log.finished.last)
            #expect(skipped.id == cancelled.retries.first && skipped.status == .skipped && skipped.attempt == 2)
            #expect(skipped.error == "skipped: cancelled before it started by uid 0 (root)")
            #expect(try await store.pendingRetries().map(\.run.id) == [second.id])
            await #expect(throws: APIError.self) { try await engine.cancel(runID: first.id) }
            clock.advance(by: 3600)
            try await waitFor("the other retry to run") { await log.finished.count == 4 }
            await engine.untilIdle()
            let retried = await log.started.filter { $0.trigger == .retry }
            #expect(retried.count == 1, "\(retried)")
            #expect(try await store.pendingRetries().isEmpty)
            // An attempt earlier in a trigger's attempts: the retry after its last one goes.
            _ = try await engine.runNow("thrice")
            try await waitFor("its first attempt to fail") { await log.finished.contains { $0.job == "thrice" } }
            await engine.untilIdle()
            clock.advance(by: 120)
            try await waitFor("its second attempt to fail") { await log.finished.filter { $0.job == "thrice" }.count == 2 }
            await engine.untilIdle()
            let attempts = await log.finished.filter { $0.job == "thrice" }
            #expect(await engine.pendingRetry("thrice")?.attempt == 3 && attempts[1].retryOf == attempts[0].id)
            let early = try await engine.cancel(runID: attempts[0].id)
            #expect(early.retries.count == 1 && early.runs.isEmpty, "\(early)")
            #expect(await engine.pendingRetry("thrice") == nil)
        }
    }

    /// A retry that came due while every worker is busy is still the job's pending retry (as
    /// `show` and `run --wait` read it), not gone between its timer and its start.
    @Test func aRetryWaitingForAWorkerIsStillPending() async throws {
        let gate = Gate()
        let handlers: [String: JobHandler] = ["block": { _ in try await gate.wait() }, "fail": { _ in throw TestError() }]
        let jobs = #"{"jobs": [{"name": "hog", "handler": "block"}, {"name": "flaky", "handler": "fail", "retries": 1, "retry_backoff": "2s"}]}"#
        let one = JobScheduler.Configuration(workers: 1, shutdownGrace: .seconds(5), defaultTimeZone: "UTC")
        let clock = ManualClock(t0)
        try await withEngine(jobs: jobs, handlers: handlers, clock: clock, configuration: one) { engine, log, _ in
            _ = try await engine.runNow("flaky")
            try await waitFor("the first attempt to fail") { await log.finished.count == 1 }
            #expect(await engine.pendingRetry("flaky")?.attempt == 2)
            _ = try await engine.runNow("hog")
            try await waitFor("the hog to hold the worker") { await log.started.count == 2 }
            clock.advance(by: 5)
            try await waitFor("the retry to wait for the worker") { await engine.waitingRuns()["flaky"] == 1 }
            #expect(await engine.pendingRetry("flaky")?.attempt == 2)
            gate.open()
            try await waitFor("the retry to run") { await log.finished.filter { $0.job == "flaky" }.count == 2 }
            await engine.untilIdle()
            #expect(await engine.pendingRetry("flaky") == nil)
        }
    }

    /// A retry that comes due while its job is paused waits, and starts at the resume; one
    /// held across a run's end while still paused is held again.
    @Test func aPausedJobsRetryWaitsForTheResume() async throws {
        let clock = ManualClock(t0)
        let jobs = #"{"jobs": [{"name": "flaky", "handler": "fail", "retries": 1, "retry_backoff": "1m", "concurrency": "allow"}]}"#
        try await withEngine(jobs: jobs, handlers: ok, clock: clock) { engine, log, _ in
            try await firstAttemptFails("flaky", engine, log)
            await engine.pause("flaky")
            clock.advance(by: 3600)
            await engine.untilIdle()
            #expect(await log.started.count == 1, "a paused job's retry started")
            #expect(await engine.pendingRetry("flaky")?.attempt == 2)
            // A run by hand (forced past the pause) ends: the retry is still held.
            _ = try await engine.runNow("flaky", force: true)
            try await waitFor("the forced run to fail") { await log.finished.count == 2 }
            await engine.untilIdle()
            #expect(await log.started.filter { $0.trigger == .retry }.isEmpty)
            try await engine.resume("flaky")
            try await waitFor("the held retry to run") { await log.finished.contains { $0.trigger == .retry } }
            let finished = await log.finished
            let retry = try #require(finished.first { $0.trigger == .retry })
            #expect(retry.retryOf == finished.first?.id && retry.attempt == 2)
        }
    }

    /// A pause and a resume made on another node (read back from the store) hold and then
    /// release the job's retry here, as a pause and a resume made here do.
    @Test func aRetryHeldByAPauseFromAnotherNodeStartsAtItsResume() async throws {
        let clock = ManualClock(t0)
        let jobs = #"{"jobs": [{"name": "flaky", "handler": "fail", "retries": 1, "retry_backoff": "1m"}]}"#
        try await withEngine(jobs: jobs, handlers: ok, clock: clock) { engine, log, store in
            try await firstAttemptFails("flaky", engine, log)
            func storePaused(_ paused: Bool) async throws {
                var state = try #require(try await store.job(named: "flaky")).state
                state.paused = paused
                state.pauseReason = paused ? "manual" : nil
                try await store.saveStates([(name: "flaky", state: state)])
                await engine.refreshFromStore()
            }
            try await storePaused(true)
            clock.advance(by: 3600)
            await engine.untilIdle()
            #expect(await log.started.count == 1, "a retry started while the job was paused elsewhere")
            try await storePaused(false)
            try await waitFor("the held retry") { await log.finished.contains { $0.trigger == .retry } }
        }
    }

    /// A pause takes back what of the job waits for a worker: a fire is recorded skipped, a
    /// retry waits for the resume; a run asked for by hand stays (a paused job runs by hand).
    @Test func aPauseTakesBackTheJobsRunsWaitingForAWorker() async throws {
        let clock = ManualClock(t0)
        let gate = Gate()
        let calls = Mutex(0)
        let handlers: [String: JobHandler] = [
            "block": { _ in try await gate.wait() },
            "firstFails": { _ in if calls.withLock({ count in count += 1; return count }) == 1 { throw TestError() } },
        ]
        let jobs = #"{"jobs": [{"name": "hog", "handler": "block"}, {"name": "flaky", "handler": "firstFails", "schedule": "30 * * * * *","#
            + #" "retries": 1, "retry_backoff": "1m", "concurrency": "allow"}]}"#
        let one = JobScheduler.Configuration(workers: 1, shutdownGrace: .seconds(5), defaultTimeZone: "UTC")
        try await withEngine(jobs: jobs, handlers: handlers, clock: clock, configuration: one) { engine, log, _ in
            defer { gate.open() }
            _ = try await engine.runNow("flaky")
            try await waitFor("the first attempt to fail") { await log.finished.count == 1 }
            let failed = await log.finished[0]
            _ = try await engine.runNow("hog")
            try await waitFor("the hog to hold the worker") { await log.started.count == 2 }
            clock.advance(to: t0.addingTimeInterval(30))
            try await waitFor("the fire to wait for the worker") { await engine.waitingRuns()["flaky", default: 0] >= 1 }
            // The retry is due 30–60 s after the failure (its backoff's jitter).
            clock.advance(to: t0.addingTimeInterval(60))
            try await waitFor("the retry to wait for the worker") { await engine.waitingRuns() == ["flaky": 2] }
            _ = try await engine.runNow("flaky")
            #expect(await engine.waitingRuns() == ["flaky": 3], "the fire at 12:00:30, the retry and the run by hand wait")
            await engine.pause("flaky")
            #expect(await engine.waitingRuns() == ["flaky": 1])
            try await waitFor("the fire's skip") { await log.finished.count == 2 }
            let skipped = await log.finished[1]
            #expect(skipped.trigger == .schedule && skipped.status == .skipped && skipped.scheduledAt == t0.addingTimeInterval(30))
            #expect(skipped.error == "skipped: the job was paused before it started")
            #expect(await engine.pendingRetry("flaky")?.retryOf == failed.id)
            gate.open()
            try await waitFor("the run by hand") { await log.finished.contains { $0.job == "flaky" && $0.trigger == .manual && $0.status == .succeeded } }
            await engine.untilIdle()
            #expect(await log.started.filter { $0.trigger != .manual }.isEmpty, "a paused job's retry or fire started")
            try await engine.resume("flaky")
            try await waitFor("the held retry") { await log.finished.contains { $0.trigger == .retry } }
            let retry = try #require(await log.finished.first { $0.trigger == .retry })
            #expect(retry.retryOf == failed.id && retry.status == .succeeded)
        }
    }

    /// What of a removed job has not started does not start: its run waiting for a worker and
    /// its retry waiting for its time each get a `skipped` row (the retry's ends its mark).
    @Test func aRemovedJobsWaitingRunAndRetryAreRecordedNotStarted() async throws {
        let gate = Gate()
        let handlers: [String: JobHandler] = ["block": { _ in try await gate.wait() }, "fail": { _ in throw TestError() }]
        let jobs = #"{"jobs": [{"name": "hog", "handler": "block"}, {"name": "gone", "handler": "fail", "retries": 1, "retry_backoff": "1h", "concurrency": "allow"}]}"#
        let one = JobScheduler.Configuration(workers: 1, shutdownGrace: .seconds(5), defaultTimeZone: "UTC")
        try await withEngine(jobs: jobs, handlers: handlers, configuration: one) { engine, log, store in
            defer { gate.open() }
            _ = try await engine.runNow("gone")
            try await waitFor("the first attempt to fail") { await log.finished.count == 1 }
            let failed = await log.finished[0]
            _ = try await engine.runNow("hog")
            try await waitFor("the hog to hold the worker") { await log.started.count == 2 }
            _ = try await engine.runNow("gone")
            #expect(await engine.waitingRuns() == ["gone": 1])
            #expect(await engine.pendingRetry("gone")?.retryOf == failed.id)
            try await engine.removeJob(named: "gone")
            try await waitFor("the two skips") { await log.finished.count == 3 }
            let skips = await log.finished.dropFirst()
            #expect(skips.allSatisfy { $0.job == "gone" && $0.status == .skipped && $0.error == "skipped: the job was removed before it started" })
            #expect(Set(skips.map(\.trigger)) == [.manual, .retry] && skips.first { $0.trigger == .retry }?.retryOf == failed.id)
            #expect(try await store.pendingRetries().isEmpty)
            #expect(await engine.waitingRuns().isEmpty)
            gate.open()
            try await waitFor("the hog's end") { await log.finished.contains { $0.job == "hog" } }
            await engine.untilIdle()
            #expect(await log.started.filter { $0.job == "gone" }.count == 1, "a removed job's run started")
        }
    }

    /// Another job's `on_failure` does not start a paused or disabled job (only a run by hand
    /// does): the trigger is recorded skipped, saying why. A retry of a job disabled since
    /// waits until it is enabled again.
    @Test func onFailureSkipsAPausedOrDisabledJobAndADisabledJobsRetryWaits() async throws {
        let clock = ManualClock(t0)
        let jobs = #"{"jobs": [{"name": "job", "handler": "fail", "on_failure": "page"}, {"name": "page", "handler": "ok"},"#
            + #" {"name": "flaky", "handler": "fail", "retries": 1, "retry_backoff": "1m"}]}"#
        try await withEngine(jobs: jobs, handlers: ok, clock: clock) { engine, log, _ in
            await engine.pause("page")
            _ = try await engine.runNow("job")
            try await waitFor("the failure and its trigger") { await log.finished.count == 2 }
            var finished = await log.finished
            #expect(finished[1].job == "page" && finished[1].status == .skipped && finished[1].triggeredByRun == finished[0].id)
            #expect(finished[1].error == "skipped: page is paused: `schedctl resume page` lets it run again")
            try await engine.resume("page")
            _ = try await engine.apply(jobFile: #"{"jobs": [{"name": "page", "handler": "ok", "enabled": false}]}"#)
            _ = try await engine.runNow("job")
            try await waitFor("the second failure and its trigger") { await log.finished.count == 4 }
            finished = await log.finished
            #expect(finished[3].job == "page" && finished[3].status == .skipped && finished[3].error == "skipped: page is disabled (\"enabled\": false)")
            // A retry that comes due while its job is disabled waits for it to be enabled.
            _ = try await engine.runNow("flaky")
            try await waitFor("flaky's first attempt") { await log.finished.count == 5 }
            _ = try await engine.apply(jobFile: #"{"jobs": [{"name": "flaky", "handler": "fail", "retries": 1, "retry_backoff": "1m", "enabled": false}]}"#)
            clock.advance(by: 3600)
            await engine.untilIdle()
            #expect(await log.started.filter { $0.trigger == .retry }.isEmpty, "a disabled job's retry started")
            #expect(await engine.pendingRetry("flaky")?.attempt == 2)
            _ = try await engine.apply(jobFile: #"{"jobs": [{"name": "flaky", "handler": "fail", "retries": 1, "retry_backoff": "1m"}]}"#)
            try await waitFor("the retry, enabled again") { await log.finished.contains { $0.trigger == .retry } }
            await engine.untilIdle()
            #expect(await log.started.map(\.job).contains("page") == false)
        }
    }

    /// Cancelling a job drops its runs waiting for a worker (recorded skipped, who cancelled
    /// them said, a caller waiting for the start told), and leaves other jobs' waiting runs.
    @Test func cancellingAJobDropsItsRunsWaitingForAWorker() async throws {
        let gate = Gate()
        let handlers: [String: JobHandler] = ["block": { _ in try await gate.wait() }, "ok": { _ in }]
        let jobs = #"{"jobs": [{"name": "hog", "handler": "block"}, {"name": "batch", "handler": "ok", "concurrency": "allow"},"#
            + #" {"name": "other", "handler": "ok"}]}"#
        let one = JobScheduler.Configuration(workers: 1, shutdownGrace: .seconds(5), defaultTimeZone: "UTC")
        try await withEngine(jobs: jobs, handlers: handlers, configuration: one) { engine, log, _ in
            defer { gate.open() }
            _ = try await engine.runNow("hog")
            try await waitFor("the hog to hold the worker") { await log.started.count == 1 }
            _ = try await engine.runNow("batch")
            _ = try await engine.runNow("batch")
            _ = try await engine.runNow("other")
            #expect(await engine.waitingRuns() == ["batch": 2, "other": 1])
            let cancelled = try await engine.cancel(job: "batch", by: "uid 0 (root)")
            #expect(cancelled.runs.isEmpty && cancelled.retries.isEmpty && cancelled.waiting.count == 2, "\(cancelled)")
            try await waitFor("the skips to be told") { await log.finished.count == 2 }
            let skipped = await log.finished
            #expect(skipped.allSatisfy { $0.job == "batch" && $0.status == .skipped && $0.trigger == .manual })
            #expect(skipped.allSatisfy { $0.error == "skipped: cancelled before it started by uid 0 (root)" })
            #expect(await engine.waitingRuns() == ["other": 1])
            gate.open()
            try await waitFor("the other job's run") { await log.finished.contains { $0.job == "other" } }
            await engine.untilIdle()
            #expect(await log.started.filter { $0.job == "batch" }.isEmpty, "a cancelled waiting run started")
        }
    }

    /// Runs that were to start when the engine stopped (waiting for a worker) are recorded as
    /// skipped, saying why: a slot that fired is never gone without a trace.
    @Test func runsWaitingForAWorkerAtShutdownAreRecordedAsSkipped() async throws {
        let store = MemoryStore()
        let gate = Gate()
        let handlers: [String: JobHandler] = ["block": { _ in try await gate.wait() }, "ok": { _ in }]
        let jobs = #"{"jobs": [{"name": "hog", "handler": "block"}, {"name": "next", "handler": "ok"}]}"#
        let one = JobScheduler.Configuration(workers: 1, shutdownGrace: .seconds(5), defaultTimeZone: "UTC")
        try await withEngine(jobs: jobs, handlers: handlers, configuration: one, store: store) { engine, log, _ in
            _ = try await engine.runNow("hog")
            try await waitFor("the hog to hold the worker") { await log.started.count == 1 }
            #expect(try await engine.runNow("next") == .queued)
            // Stopped at once: the hog's handler waits for ever.
            engine.shutdown()
            engine.hurryShutdown()
        }
        let next = try await store.history(HistoryQuery(job: "next"), withOutput: false)
        #expect(next.count == 1)
        #expect(next.first?.status == .skipped && next.first?.trigger == .manual)
        #expect(next.first?.error == "skipped: schedd shut down before a worker was free for it")
    }

    /// The idle barrier has a way out: a task waiting for an engine that a run keeps busy
    /// returns when it is cancelled, and the engine goes on.
    @Test func aWaitForAnIdleEngineEndsWhenItsTaskIsCancelled() async throws {
        let gate = Gate()
        let handlers: [String: JobHandler] = ["block": { _ in try await gate.wait() }]
        let jobs = #"{"jobs": [{"name": "busy", "handler": "block"}]}"#
        try await withEngine(jobs: jobs, handlers: handlers) { engine, log, _ in
            _ = try await engine.runNow("busy")
            try await waitFor("the run to start") { await log.started.count == 1 }
            let returned = StopFlag()
            let waiter = Task {
                await engine.untilIdle()
                returned.set()
            }
            try await waitFor("the wait to be queued") { await !engine.idleWaiters.isEmpty }
            waiter.cancel()
            try await waitFor("the cancelled wait to return", seconds: 10) { returned.isSet }
            #expect(await log.finished.isEmpty)
            gate.open()
            try await waitFor("the run to end") { await log.finished.count == 1 }
            await engine.untilIdle()
            #expect(await log.finished.first?.status == .succeeded)
        }
    }

    /// A run the engine left active (it died) is `interrupted` at the next start and counts as
    /// a failed attempt: retried by its policy, then, with its retries spent, counted and
    /// followed by `on_failure`.
    @Test func anInterruptedRunIsRetriedThenReported() async throws {
        let clock = ManualClock(t0)
        let jobs = #"{"jobs": [{"name": "long", "handler": "fail", "retries": 1, "on_failure": "notify"}, {"name": "notify", "handler": "ok"}]}"#
        try await withEngine(jobs: jobs, handlers: ok, clock: clock, prepare: { store in
            _ = try await store.startRun(RunStart(job: "long", trigger: .manual, scheduledAt: nil, startedAt: t0.addingTimeInterval(-60)))
        }) { engine, log, store in
            try await drive(clock, engine: engine, until: "the retry and the notification") {
                await log.finished.contains { $0.job == "notify" }
            }
            let runs = try await store.history(HistoryQuery(limit: 10), withOutput: false)
            #expect(runs.map(\.job) == ["notify", "long", "long"])
            #expect(runs.map(\.status) == [.succeeded, .failed, .interrupted])
            #expect(runs[1].trigger == .retry && runs[1].attempt == 2)
            #expect(try await store.job(named: "long")?.state.consecutiveFailures == 1)
        }
    }

    /// Cluster mode's takeover: a run lost with its node is a failed attempt here, by its
    /// job's policy (retried, or counted and followed by `on_failure`), and a retry that waited
    /// on the dead node runs here when it is due. A job pinned to the dead node is not retried
    /// here: its retry is marked for that node (which takes it up when it is back); with no
    /// retries left, its failure is counted here and followed by `on_failure`.
    @Test func whatANodeTakesOverFromADeadOneFollowsEachJobsPolicy() async throws {
        let clock = ManualClock(t0)
        let jobs = #"""
            {"jobs": [{"name": "a", "handler": "ok", "retries": 1}, {"name": "b", "handler": "ok", "on_failure": "notify"},
                      {"name": "c", "handler": "ok", "retries": 1}, {"name": "notify", "handler": "ok"},
                      {"name": "d", "handler": "ok", "retries": 1, "on_failure": "notify", "node": "n2"},
                      {"name": "e", "handler": "ok", "on_failure": "notify", "node": "n2"}]}
            """#
        var configuration = JobScheduler.Configuration(workers: 4, shutdownGrace: .seconds(5), defaultTimeZone: "UTC")
        configuration.node = "n1"
        try await withEngine(jobs: jobs, handlers: ok, clock: clock, configuration: configuration, prepare: { store in
            for job in ["a", "b", "c", "d", "e"] {
                guard case .started(let run) = try await store.startRun(RunStart(job: job, trigger: .manual, scheduledAt: nil, startedAt: t0.addingTimeInterval(-60))) else { continue }
                _ = try await store.finishRun(run, RunOutcome(status: job == "c" ? .failed : .lost, finishedAt: t0.addingTimeInterval(-1)))
            }
        }) { engine, log, store in
            let runs = try await store.history(HistoryQuery(limit: 10), withOutput: false)
            let byJob = Dictionary(uniqueKeysWithValues: runs.map { ($0.job, $0) })
            let (a, b, c, d) = (try #require(byJob["a"]), try #require(byJob["b"]), try #require(byJob["c"]), try #require(byJob["d"]))
            let e = try #require(byJob["e"])
            await engine.takeOver(lost: [a, b, d, e], retries: [(run: c, due: t0.addingTimeInterval(30))])
            try await drive(clock, engine: engine, until: "a's retry, b's and e's notifications and c's retry") {
                let finished = await log.finished.map { "\($0.job) \($0.trigger.rawValue) \($0.attempt)" }
                return finished.sorted() == ["a retry 2", "c retry 2", "notify dependency 1", "notify dependency 1"]
            }
            #expect(Set(await log.finished.filter { $0.job == "notify" }.compactMap(\.triggeredByRun)) == [b.id, e.id])
            #expect(try await store.job(named: "e")?.state.consecutiveFailures == 1)
            // d's retry waits for n2, marked for it; its failure is not final yet.
            #expect((store as? MemoryStore)?.retryNodes() == [d.id: "n2"])
            #expect(try await store.job(named: "d")?.state.consecutiveFailures == 0)
            // c's retry ran when it was due, not at once.
            let cRetry = try #require(await log.finished.first { $0.job == "c" })
            #expect(cRetry.startedAt >= t0.addingTimeInterval(30))
            #expect(try await store.job(named: "b")?.state.consecutiveFailures == 1)
            await engine.untilIdle()
            #expect(try await store.pendingRetries().map(\.run.id) == [d.id])
            #expect(!(await log.finished.contains { $0.job == "d" }))
        }
    }

    /// Runs lost with another node and taken over while this node stops: nothing starts, and
    /// what follows each is marked as for a run of its own ending then: a retry pending (for
    /// this node, or the node its job is pinned to), a final result left to apply. (Before,
    /// the takeover dropped them: the runs stayed `lost`, never retried nor counted.)
    @Test func runsLostWithANodeTakenOverWhileThisOneStopsKeepWhatFollowsThem() async throws {
        let clock = ManualClock(t0)
        let store = MemoryStore(sharedByNodes: true)
        let jobs = #"""
            {"jobs": [{"name": "a", "handler": "ok", "retries": 1}, {"name": "b", "handler": "ok", "on_failure": "notify"},
                      {"name": "d", "handler": "ok", "retries": 1, "node": "n2"}, {"name": "notify", "handler": "ok"},
                      {"name": "long", "handler": "hang"}]}
            """#
        let handlers: [String: JobHandler] = ["ok": { _ in }, "hang": { _ in try await Gate().wait() }]
        var configuration = JobScheduler.Configuration(workers: 4, shutdownGrace: .seconds(5), defaultTimeZone: "UTC")
        configuration.node = "n1"
        var lost: [String: RunRecord] = [:]
        try await withEngine(jobs: jobs, handlers: handlers, clock: clock, configuration: configuration, store: store, prepare: { store in
            for job in ["a", "b", "d"] {
                guard case .started(let run) = try await store.startRun(RunStart(job: job, trigger: .manual, scheduledAt: nil, startedAt: t0.addingTimeInterval(-60))) else { continue }
                _ = try await store.finishRun(run, RunOutcome(status: .lost, finishedAt: t0.addingTimeInterval(-1)))
            }
        }) { engine, _, store in
            for run in try await store.history(HistoryQuery(limit: 10), withOutput: false) { lost[run.job] = run }
            _ = try await engine.runNow("long")
            try await waitFor("the long run to start") { await engine.activeRuns().count == 1 }
            engine.shutdown()
            try await waitFor("the engine to wait out the grace period") { clock.nextDeadline != nil }
            await engine.takeOver(lost: ["a", "b", "d"].compactMap { lost[$0] }, retries: [])
        }
        // The engine has stopped: nothing but the long run started.
        let runs = try await store.history(HistoryQuery(limit: 10), withOutput: false)
        #expect(runs.map { "\($0.job) \($0.status.rawValue)" }.sorted() == ["a lost", "b lost", "d lost", "long cancelled"])
        let (a, b, d) = (try #require(lost["a"]), try #require(lost["b"]), try #require(lost["d"]))
        #expect(try await store.pendingRetries().map(\.run.id).sorted() == [a.id, d.id])
        #expect(store.retryNodes() == [d.id: "n2"])
        #expect(try await store.pendingPolicies().map(\.id) == [b.id])
        #expect(try await store.job(named: "b")?.state.consecutiveFailures == 0, "counted before its final result was applied")
    }

    /// A run that waits for a worker starts on its job's definition as it is when it gets
    /// one: a reload meanwhile took the old command out of the file.
    @Test func aRunWaitingForAWorkerStartsOnTheCurrentDefinition() async throws {
        let clock = ManualClock(t0)
        let gate = Gate()
        let seen = Mutex<[String]>([])
        let handlers: [String: JobHandler] = [
            "block": { _ in try await gate.wait() },
            "versioned": { context in
                if case let .string(version)? = context.params?["version"] { seen.withLock { $0.append(version) } }
            },
        ]
        func file(_ version: Int) -> String {
            #"{"jobs": [{"name": "block", "handler": "block"}, {"name": "j", "handler": "versioned", "params": {"version": "\#(version)"}}]}"#
        }
        let configuration = JobScheduler.Configuration(workers: 1, shutdownGrace: .seconds(5), defaultTimeZone: "UTC")
        try await withEngine(jobs: file(1), handlers: handlers, clock: clock, configuration: configuration) { engine, log, _ in
            _ = try await engine.runNow("block")
            try await waitFor("block to hold the worker") { await log.started.count == 1 }
            #expect(try await engine.runNow("j") == .queued)
            #expect(await engine.waitingRuns()["j"] == 1)
            _ = try await engine.apply(jobFile: file(2))
            gate.open()
            try await waitFor("j to run") { await log.finished.count == 2 }
            #expect(seen.withLock { $0 } == ["2"])
        }
    }

    /// Under `concurrency: forbid` two runs of a job never overlap, a retry included: one that
    /// comes due while a run of its job goes on waits for that run's end (it ran beside it).
    @Test func aRetryDueWhileARunOfItsJobGoesOnWaitsForItsEnd() async throws {
        let clock = ManualClock(t0)
        let calls = RunCounter()
        let gate = Gate()
        let going = Mutex((now: 0, most: 0))
        let handlers: [String: JobHandler] = [
            // Fails first, then holds until the gate opens, then succeeds.
            "flaky": { _ in
                let call = calls.next()
                going.withLock { $0.now += 1; $0.most = max($0.most, $0.now) }
                defer { going.withLock { $0.now -= 1 } }
                if call == 1 { throw TestError() }
                if call == 2 { try await gate.wait() }
            },
        ]
        let jobs = #"{"jobs": [{"name": "j", "handler": "flaky", "retries": 1, "retry_backoff": "10s"}]}"#
        try await withEngine(jobs: jobs, handlers: handlers, clock: clock) { engine, log, store in
            try await firstAttemptFails("j", engine, log)
            #expect(await engine.pendingRetry("j") != nil)
            // A run by hand while the retry waits for its time: nothing of the job is going on.
            #expect(try await engine.runNow("j") == .queued)
            try await waitFor("the run by hand to start") { await log.started.count == 2 }
            clock.advance(by: 30)
            await engine.untilIdle(busyWorkersToo: true)
            #expect(try await store.history(HistoryQuery(job: "j", limit: 10)).count == 2, "the retry started beside the run by hand")
            #expect(await engine.pendingRetry("j")?.attempt == 2)
            gate.open()
            try await waitFor("the retry to run") { await log.finished.count == 3 }
            let finished = await log.finished
            #expect(finished.map(\.trigger) == [.manual, .manual, .retry])
            #expect(going.withLock { $0.most } == 1)
        }
    }

    /// Validation refuses trigger cycles; one stored anyway (by hand, or by an older schedd)
    /// goes round once and is then recorded as a skipped run, not run without end.
    @Test func aStoredTriggerCycleStopsAtItsFirstTurn() async throws {
        let cycle = #"""
            {"jobs": [{"name": "a", "handler": "fail", "on_failure": "b"},
                      {"name": "b", "handler": "ok", "on_success": "c"},
                      {"name": "c", "handler": "fail", "on_failure": "a"}]}
            """#
        try await withEngine(jobs: #"{"jobs": [{"name": "a", "handler": "fail"}, {"name": "b", "handler": "ok"}, {"name": "c", "handler": "ok"}]}"#,
                             handlers: ok, prepare: { store in
            _ = try await store.applyJobs(try JobFile(data: Array(cycle.utf8), context: .stored), prune: false, dryRun: false,
                                          now: t0, source: nil, origin: .api(), protectedFile: nil)
        }) { engine, log, _ in
            _ = try await engine.runNow("a")
            try await waitFor("the cycle to be stopped") { await log.finished.contains { $0.status == .skipped } }
            await engine.untilIdle()
            let runs = await log.finished
            #expect(runs.map(\.job) == ["a", "b", "c", "a"])
            #expect(runs.map(\.status) == [.failed, .succeeded, .failed, .skipped])
            #expect(runs.last?.trigger == .dependency)
            #expect(runs.last?.error?.contains("trigger cycle a -> b -> c -> a") == true, "\(runs.last?.error ?? "")")
        }
    }

    @Test func forbidRecordsASkippedRun() async throws {
        let gate = Gate()
        let handlers: [String: JobHandler] = ["block": { _ in try await gate.wait() }]
        try await withEngine(jobs: #"{"jobs": [{"name": "j", "handler": "block"}]}"#, handlers: handlers) { engine, log, _ in
            #expect(try await engine.runNow("j") == .queued)
            try await waitFor("the run to start") { await log.started.count == 1 }
            guard case let .skipped(skipped) = try await engine.runNow("j") else {
                Issue.record("expected a skipped run")
                return
            }
            #expect(skipped.status == .skipped)
            #expect(skipped.error?.contains("concurrency: forbid") == true)
            // --force overrides the policy.
            #expect(try await engine.runNow("j", force: true) == .queued)
            try await waitFor("two running") { await log.started.count == 2 }
            gate.open()
        }
    }

    @Test func replaceCancelsTheActiveRun() async throws {
        let gate = Gate()
        let handlers: [String: JobHandler] = ["block": { _ in try await gate.wait() }]
        try await withEngine(jobs: #"{"jobs": [{"name": "j", "handler": "block", "concurrency": "replace"}]}"#, handlers: handlers) { engine, log, _ in
            _ = try await engine.runNow("j")
            try await waitFor("the run to start") { await log.started.count == 1 }
            _ = try await engine.runNow("j")
            try await waitFor("the first run to be cancelled") { await log.finished.count == 1 }
            #expect(await log.finished.first?.status == .cancelled)
            #expect(await log.finished.first?.error?.contains("replaced") == true)
            try await waitFor("the second run to start") { await log.started.count == 2 }
            gate.open()
            try await waitFor("the second run to finish") { await log.finished.count == 2 }
            #expect(await log.finished.last?.status == .succeeded)
        }
    }

    /// A run that `replace` takes off the queue, before a worker was free for it, has its row
    /// as a replaced run that had started has: the slot is not gone without a trace.
    @Test func replaceRecordsTheQueuedRunItDisplaces() async throws {
        let gate = Gate()
        let handlers: [String: JobHandler] = ["block": { _ in try await gate.wait() }, "ok": { _ in }]
        let jobs = #"{"jobs": [{"name": "hog", "handler": "block"}, {"name": "r", "handler": "ok", "concurrency": "replace"}]}"#
        let one = JobScheduler.Configuration(workers: 1, shutdownGrace: .seconds(5), defaultTimeZone: "UTC")
        try await withEngine(jobs: jobs, handlers: handlers, configuration: one) { engine, log, store in
            _ = try await engine.runNow("hog")
            try await waitFor("the hog to hold the worker") { await log.started.count == 1 }
            #expect(try await engine.runNow("r") == .queued)
            #expect(try await engine.runNow("r") == .queued)
            let displaced = try await store.history(HistoryQuery(job: "r"), withOutput: false)
            #expect(displaced.map(\.status) == [.skipped])
            #expect(displaced.first?.trigger == .manual)
            #expect(displaced.first?.error == "skipped: a newer run replaced it (concurrency: replace) before it started")
            gate.open()
            try await waitFor("the newer run to finish") { await log.finished.contains { $0.job == "r" } }
            await engine.untilIdle()
            let runs = try await store.history(HistoryQuery(job: "r"), withOutput: false)
            #expect(runs.map(\.status) == [.succeeded, .skipped])
        }
    }

    @Test func allowLetsRunsOverlapAndThePoolBoundsThem() async throws {
        let gate = Gate()
        let handlers: [String: JobHandler] = ["block": { _ in try await gate.wait() }]
        let configuration = JobScheduler.Configuration(workers: 2, shutdownGrace: .seconds(5), defaultTimeZone: "UTC")
        try await withEngine(jobs: #"{"jobs": [{"name": "j", "handler": "block", "concurrency": "allow"}]}"#,
                             handlers: handlers, configuration: configuration) { engine, log, _ in
            for _ in 0..<3 { _ = try await engine.runNow("j") }
            try await waitFor("two runs to start") { await log.started.count == 2 }
            #expect(await engine.load() == JobScheduler.Load(busy: 2, workers: 2, queued: 1, queuedJobs: ["j"], services: 0, timeZone: "UTC"))
            gate.open()
            try await waitFor("the third run to start") { await log.started.count == 3 }
            try await waitFor("all done") { await log.finished.count == 3 }
        }
    }

    /// The queue in front of the workers is bounded: past it, a trigger is a skipped row.
    @Test func theQueueIsBoundedAndAFullQueueSkips() async throws {
        let gate = Gate()
        let handlers: [String: JobHandler] = ["block": { _ in try await gate.wait() }]
        let configuration = JobScheduler.Configuration(workers: 1, shutdownGrace: .seconds(5), defaultTimeZone: "UTC", maxQueued: 2)
        try await withEngine(jobs: #"{"jobs": [{"name": "j", "handler": "block", "concurrency": "allow"}]}"#,
                             handlers: handlers, configuration: configuration) { engine, log, _ in
            #expect(try await engine.runNow("j") == .queued)
            try await waitFor("the first run to start") { await log.started.count == 1 }
            #expect(try await engine.runNow("j") == .queued)
            #expect(try await engine.runNow("j") == .queued)
            guard case let .skipped(record) = try await engine.runNow("j") else {
                Issue.record("a fourth trigger was queued past the bound")
                gate.open()
                return
            }
            #expect(record.error?.contains("2 runs are already waiting for a worker") == true)
            #expect(await engine.load().queued == 2)
            gate.open()
            try await waitFor("the queued runs to finish") { await log.finished.filter { $0.status == .succeeded }.count == 3 }
        }
    }

    @Test func aTimeoutCancelsTheRun() async throws {
        let clock = ManualClock(t0)
        let handlers: [String: JobHandler] = ["hang": { _ in try await Gate().wait() }]
        try await withEngine(jobs: #"{"jobs": [{"name": "j", "handler": "hang", "timeout": "30s"}]}"#, handlers: handlers, clock: clock) { engine, log, _ in
            _ = try await engine.runNow("j")
            try await drive(clock, step: 5, until: "the run times out") { await log.finished.count == 1 }
            let run = await log.finished[0]
            #expect(run.status == .timedOut)
            #expect(run.error == "timed out after 30s")
        }
    }

    /// An executor that throws ends the run as failed, with the error; it used to wait for a
    /// timeout or a cancel, and a job without a timeout hung for ever.
    @Test func aThrowingExecutorFailsTheRun() async throws {
        struct Broken: JobExecutor {
            struct Failure: Error, CustomStringConvertible { var description: String { "no spawn today" } }
            func execute(_ request: ExecutionRequest) async throws -> ExecutionOutcome { throw Failure() }
        }
        try await withEngine(jobs: #"{"jobs": [{"name": "j", "shell": "true"}]}"#, commandExecutor: Broken()) { engine, log, _ in
            _ = try await engine.runNow("j")
            try await waitFor("the run to end") { await log.finished.count == 1 }
            #expect(await log.finished[0].status == .failed)
            #expect(await log.finished[0].error == "the executor failed: no spawn today")
        }
    }

    /// A start the store refuses (another node holds the slot) runs nothing and records
    /// nothing; the slot is not retried, and the job fires again at its next slot.
    @Test func aStartTheStoreRefusesRunsNothing() async throws {
        let clock = ManualClock(t0)
        let calls = Mutex(0)
        let handlers: [String: JobHandler] = ["count": { _ in calls.withLock { $0 += 1 } }]
        let store = MemoryStore(claim: { $0.job == "claimed" ? .refused("node b holds it") : nil })
        let jobs = #"{"jobs": [{"name": "claimed", "handler": "count", "schedule": "@every 1m"}, {"name": "mine", "handler": "count", "schedule": "@every 1m"}]}"#
        try await withEngine(jobs: jobs, handlers: handlers, clock: clock, store: store) { engine, log, db in
            clock.advance(by: 60)
            try await waitFor("the run of mine") { await log.finished.count == 1 }
            await engine.untilIdle()
            #expect(calls.withLock { $0 } == 1)
            #expect(try await db.history(HistoryQuery()).map(\.job) == ["mine"])
            #expect(await engine.activeRuns().isEmpty)
            // The refused slot counts as fired: the next one is a minute on.
            #expect(try await db.job(named: "claimed")?.state.nextRunAt == t0.addingTimeInterval(120))
            // A manual run waiting for its start hears that it did not start.
            await #expect(throws: APIError(.conflict, "the run of \"claimed\" was not started: node b holds it")) {
                _ = try await engine.start("claimed")
            }
        }
    }

    /// A service another node runs (the store refuses it here) is not asked for while that
    /// node is up, since the store would refuse it again, and is asked for at once when the
    /// heartbeat no longer sees that node up.
    @Test func aServiceHeldElsewhereIsAskedForOnlyOnceItsHolderGoes() async throws {
        let clock = ManualClock(t0)
        let asks = Mutex(0)
        let holderUp = Mutex(true)
        let store = MemoryStore(claim: { start in
            guard start.job == "svc" else { return nil }
            asks.withLock { $0 += 1 }
            return holderUp.withLock { $0 } ? .heldElsewhere(node: "n2") : nil
        })
        var configuration = JobScheduler.Configuration(workers: 2, shutdownGrace: .seconds(5), defaultTimeZone: "UTC")
        configuration.node = "n1"
        let handlers: [String: JobHandler] = ["serve": { _ in try await Gate().wait() }]
        try await withEngine(jobs: #"{"jobs": [{"name": "svc", "handler": "serve", "restart": "always"}]}"#, handlers: handlers,
                             clock: clock, configuration: configuration, store: store) { engine, log, _ in
            await engine.setNodesUp(["n1", "n2"])
            try await waitFor("the start at boot to be refused") { asks.withLock { $0 } == 1 }
            await engine.untilIdle()
            let state = await engine.serviceStates()["svc"]
            #expect(state?.state == "elsewhere" && state?.reason == "runs on node n2", "\(String(describing: state))")
            // Stopping, starting or restarting it here would change nothing on n2: refused, naming n2.
            let refusal = APIError(.conflict, "\"svc\" runs on node n2: stop, start or restart it there (`schedctl pause` and `resume` reach every node)")
            await #expect(throws: refusal) { try await engine.stopService("svc") }
            await #expect(throws: refusal) { try await engine.startService("svc") }
            await #expect(throws: refusal) { try await engine.restartService("svc") }
            #expect(await engine.serviceStates()["svc"]?.state == "elsewhere")
            // Ten minutes while n2 is up: looked at every 5 s, never asked.
            for _ in 0..<120 {
                clock.advance(by: 5)
                await engine.untilIdle()
            }
            #expect(asks.withLock { $0 } == 1)
            #expect(await log.started.isEmpty)
            // n2 is gone: asked at once, without moving the clock, and started here.
            holderUp.withLock { $0 = false }
            await engine.setNodesUp(["n1"])
            try await waitFor("svc to start here") { await log.started.count == 1 }
            #expect(asks.withLock { $0 } == 2)
            await engine.untilIdle()
            #expect(await engine.serviceStates()["svc"]?.state == "starting")
        }
    }

    /// A scheduled job that requires a service another node runs is left to that node: no
    /// skip recorded here for each of its slots. Asked for by hand here, it says why not.
    @Test func aJobRequiringAServiceHeldElsewhereIsLeftToThatNode() async throws {
        let clock = ManualClock(t0)
        let store = MemoryStore(claim: { $0.job == "svc" ? .heldElsewhere(node: "n2") : nil })
        var configuration = JobScheduler.Configuration(workers: 2, shutdownGrace: .seconds(5), defaultTimeZone: "UTC")
        configuration.node = "n1"
        let jobs = #"""
            {"jobs": [{"name": "svc", "handler": "serve", "restart": "always"},
                      {"name": "report", "handler": "ok", "requires": ["svc"], "schedule": "0 * * * * *"}]}
            """#
        let handlers: [String: JobHandler] = ["serve": { _ in try await Gate().wait() }, "ok": { _ in }]
        try await withEngine(jobs: jobs, handlers: handlers, clock: clock, configuration: configuration, store: store) { engine, log, db in
            await engine.setNodesUp(["n1", "n2"])
            try await waitFor("the start at boot to be refused") { await engine.serviceStates()["svc"]?.state == "elsewhere" }
            clock.advance(to: t0.addingTimeInterval(60))
            await engine.untilIdle()
            #expect(try await db.history(HistoryQuery(job: "report")).isEmpty)
            guard case let .skipped(record) = try await engine.runNow("report") else {
                Issue.record("a manual run of report was not skipped")
                return
            }
            #expect(record.error == "skipped: requires svc, which is elsewhere (runs on node n2)")
        }
    }

    /// A failed service resumed on another node (its pause cleared in the shared store) is
    /// started again here, as a resume here would, with a fresh restart count.
    @Test func aServiceResumedOnAnotherNodeStartsAgain() async throws {
        let clock = ManualClock(t0)
        let handlers: [String: JobHandler] = ["serve": { _ in try await Gate().wait() }]
        let jobs = #"{"jobs": [{"name": "svc", "handler": "serve", "restart": "always"}]}"#
        try await withEngine(jobs: jobs, handlers: handlers, clock: clock, prepare: { store in
            var state = try #require(try await store.job(named: "svc")).state
            state.paused = true
            state.pauseReason = "restart_limit"
            try await store.saveStates([("svc", state)])
        }) { engine, log, db in
            await engine.untilIdle()
            #expect(await engine.serviceStates()["svc"]?.state == "failed")
            #expect(await log.started.isEmpty)
            // Another node's `schedctl resume svc`, as it reaches the store.
            var state = try #require(try await db.job(named: "svc")).state
            state.paused = false
            state.pauseReason = nil
            try await db.saveStates([("svc", state)])
            await engine.refreshFromStore()
            try await waitFor("svc to start again") { await log.started.count == 1 }
            #expect(await log.started[0].trigger == .manual)
        }
    }

    /// A service whose start the store refuses for a reason of this node's (its lease lapsed)
    /// is asked for again, and starts once the store takes it.
    @Test func aServiceRefusedForThisNodesLeaseIsAskedForAgain() async throws {
        let clock = ManualClock(t0)
        let refusing = Mutex(true)
        let store = MemoryStore(claim: { start in
            start.job == "svc" && refusing.withLock { $0 } ? .refused("this node's lease has lapsed") : nil
        })
        let handlers: [String: JobHandler] = ["serve": { _ in try await Gate().wait() }]
        try await withEngine(jobs: #"{"jobs": [{"name": "svc", "handler": "serve", "restart": "always"}]}"#, handlers: handlers,
                             clock: clock, store: store) { engine, log, _ in
            try await waitFor("the start at boot to be refused") { await engine.serviceStates()["svc"]?.state == "restarting" }
            refusing.withLock { $0 = false }
            try await drive(clock, engine: engine, until: "svc to start") { await log.started.count == 1 }
        }
    }

    /// A service taken over from another node counts its starts there toward its restart
    /// limit: two starts on n2 in the last minute and one here reach a burst of 3, so its
    /// first crash here fails it instead of restarting it.
    @Test func aServiceTakenOverCountsItsStartsOnOtherNodes() async throws {
        let clock = ManualClock(t0)
        let jobs = #"""
            {"jobs": [{"name": "svc", "handler": "crash", "restart": "always", "restart_limit": {"burst": 3, "interval": "1m"}}]}
            """#
        // n2's two starts, 20 s and 10 s ago; it died with the second.
        try await withServiceTakenOver(jobs: jobs, clock: clock, history: [(20, 5, .failed), (10, 5, .lost)]) { engine, log, db in
            try await drive(clock, engine: engine, until: "svc to fail by its restart limit") {
                await engine.serviceStates()["svc"]?.state == "failed"
            }
            #expect(await log.started.count == 1, "restarted here although it had started twice on n2 within the window")
            #expect(try await db.job(named: "svc")?.state.pauseReason == "restart_limit")
        }
    }

    /// A service taken over from another node goes on with its restart delay from its quick
    /// crashes there: three runs on n2 that were up a few seconds each, then its first crash
    /// here is its fourth restart in a row, 1 s × 2³ = 8 s later (not 1 s, as on a fresh node).
    @Test func aServiceTakenOverGoesOnWithItsRestartDelay() async throws {
        let clock = ManualClock(t0)
        let jobs = #"""
            {"jobs": [{"name": "svc", "handler": "crash", "restart": "always", "restart_limit": "none", "restart_delay": "1s"}]}
            """#
        // Up for 10 min (a run that ends the count before it), then three quick ones.
        let history: [(ago: Double, upFor: Double, status: RunStatus)] = [(900, 600, .failed), (40, 2, .failed), (30, 3, .failed), (20, 5, .lost)]
        try await withServiceTakenOver(jobs: jobs, clock: clock, history: history) { engine, log, _ in
            try await waitFor("svc to start here and crash") { await log.finished.count == 1 }
            await engine.untilIdle()
            clock.advance(by: 7.5)
            await engine.untilIdle()
            #expect(await log.started.count == 1, "restarted before its delay, as if its crashes on n2 had not been")
            clock.advance(by: 0.5)
            try await waitFor("svc to start again 8 s on") { await log.started.count == 2 }
            #expect(await log.started[1].startedAt == t0.addingTimeInterval(8))
        }
    }

    /// Runs `body` on node n1 once it has taken over the service `svc` (a job of `jobs` whose
    /// handler `crash` throws) from n2, whose runs of it `history` gives (seconds ago, seconds
    /// up, how each ended): svc is refused here while n2 is up, then n2 goes down.
    private func withServiceTakenOver(jobs: String, clock: ManualClock, history: [(ago: Double, upFor: Double, status: RunStatus)],
                                      _ body: (JobScheduler, EventLog, any SchedulerStore) async throws -> Void) async throws {
        let holderUp = Mutex(false)
        let store = MemoryStore(claim: { start in
            start.job == "svc" && holderUp.withLock { $0 } ? .heldElsewhere(node: "n2") : nil
        })
        var configuration = JobScheduler.Configuration(workers: 2, shutdownGrace: .seconds(5), defaultTimeZone: "UTC")
        configuration.node = "n1"
        let handlers: [String: JobHandler] = ["crash": { _ in throw TestError() }]
        try await withEngine(jobs: jobs, handlers: handlers, clock: clock, configuration: configuration, store: store, prepare: { store in
            for run in history {
                guard case let .started(started) = try await store.startRun(RunStart(job: "svc", trigger: .restart, scheduledAt: nil,
                                                                                     startedAt: t0.addingTimeInterval(-run.ago), exclusive: true)) else {
                    throw TestError()
                }
                _ = try await store.finishRuns([(started, RunOutcome(status: run.status, finishedAt: t0.addingTimeInterval(-run.ago + run.upFor)))])
            }
            holderUp.withLock { $0 = true }
        }) { engine, log, db in
            await engine.setNodesUp(["n1", "n2"])
            try await waitFor("the start at boot to be refused") { await engine.serviceStates()["svc"]?.state == "elsewhere" }
            holderUp.withLock { $0 = false }
            await engine.setNodesUp(["n1"])
            try await body(engine, log, db)
        }
    }

    /// The restarts in a row read from a service's history stop at a run that was up
    /// `restart_reset_after` and at a start by hand (which set the count to zero), counting it.
    @Test func theRestartsInARowStopAtALongRunAndAtAStartByHand() {
        func run(_ id: Int64, _ trigger: RunTrigger, up: TimeInterval) -> RunRecord {
            let started = t0.addingTimeInterval(Double(id) * 100)
            return RunRecord(id: id, job: "svc", trigger: trigger, attempt: 1, status: .failed, startedAt: started,
                             finishedAt: started.addingTimeInterval(up))
        }
        let quick = [run(5, .restart, up: 1), run(4, .restart, up: 2)]
        #expect(JobScheduler.restartStreak(endedNewestFirst: quick + [run(3, .restart, up: 300), run(2, .restart, up: 1)], resetAfter: 300) == 2)
        #expect(JobScheduler.restartStreak(endedNewestFirst: quick + [run(3, .manual, up: 1), run(2, .restart, up: 1)], resetAfter: 300) == 3)
        #expect(JobScheduler.restartStreak(endedNewestFirst: [run(1, .restart, up: 400)], resetAfter: 300) == 0)
        #expect(JobScheduler.restartStreak(endedNewestFirst: [], resetAfter: 300) == 0)
    }

    /// In a cluster, a slot that does not go through the queue is asked for at once by its
    /// job's first node and 250 ms later by the others (this store queues nothing, so every
    /// job's slots go this way here).
    @Test func aSlotOutsideTheQueueIsAskedForAtOnceByItsFirstNodeAndLaterByTheOthers() async throws {
        let clock = ManualClock(t0.addingTimeInterval(5))
        var configuration = JobScheduler.Configuration(workers: 2, shutdownGrace: .seconds(5), defaultTimeZone: "UTC")
        configuration.node = "n1"
        let names = (0..<50).map { "job\($0)" }
        let mine = try #require(names.first { FirstNode.of(job: $0, among: ["n1", "n2"]) == "n1" })
        let theirs = try #require(names.first { FirstNode.of(job: $0, among: ["n1", "n2"]) == "n2" })
        let jobs = #"{"jobs": [{"name": "\#(mine)", "handler": "ok", "schedule": "0 * * * * *"}, "#
            + #"{"name": "\#(theirs)", "handler": "ok", "schedule": "0 * * * * *"}]}"#
        try await withEngine(jobs: jobs, handlers: ok, clock: clock, configuration: configuration) { engine, log, _ in
            await engine.setNodesUp(["n1", "n2"])
            clock.advance(to: t0.addingTimeInterval(60))
            try await waitFor("the slot of the job whose first node this is") { await log.finished.contains { $0.job == mine } }
            await engine.untilIdle()
            #expect(await !log.started.contains { $0.job == theirs })
            clock.advance(by: 0.25)
            try await waitFor("the other job's slot, 250 ms on") { await log.finished.contains { $0.job == theirs } }
            let started = await log.started.first { $0.job == theirs }
            #expect(started?.scheduledAt == t0.addingTimeInterval(60))
            #expect(started?.startedAt == t0.addingTimeInterval(60.25))
        }
    }

    /// A slot asked for later that another node has taken meanwhile (the store has its row)
    /// is left out: its start is not asked of the store, and no worker's turn is spent on it.
    /// The others' slots asked for with it start.
    @Test func aSlotOutsideTheQueueThatAnotherNodeTookIsNotAskedForLater() async throws {
        let clock = ManualClock(t0.addingTimeInterval(5))
        var configuration = JobScheduler.Configuration(workers: 2, shutdownGrace: .seconds(5), defaultTimeZone: "UTC")
        configuration.node = "n1"
        let theirs = (0..<50).map { "job\($0)" }.filter { FirstNode.of(job: $0, among: ["n1", "n2"]) == "n2" }
        let (took, left) = (theirs[0], theirs[1])
        let asked = Mutex<[String]>([])
        let store = MemoryStore(claim: { start in
            asked.withLock { $0.append(start.job) }
            return nil
        }, taken: { job, slot in job == took && slot == t0.addingTimeInterval(60) })
        let jobs = #"{"jobs": [{"name": "\#(took)", "handler": "ok", "schedule": "0 * * * * *"}, "#
            + #"{"name": "\#(left)", "handler": "ok", "schedule": "0 * * * * *"}]}"#
        try await withEngine(jobs: jobs, handlers: ok, clock: clock, configuration: configuration, store: store) { engine, log, _ in
            await engine.setNodesUp(["n1", "n2"])
            clock.advance(to: t0.addingTimeInterval(60))
            await engine.untilIdle()
            #expect(asked.withLock { $0 }.isEmpty, "a slot of the other node's jobs was asked for at once")
            clock.advance(by: 0.25)
            try await waitFor("the slot no node has taken, 250 ms on") { await log.finished.contains { $0.job == left } }
            await engine.untilIdle()
            #expect(asked.withLock { $0 } == [left])
            #expect(await !log.started.contains { $0.job == took })
        }
    }

    /// `catch_up: all` of a job outside the queue, its missed times asked for later than its
    /// first node: one another node has taken is left out, and the next one is asked for
    /// straight after, as after a start the store refused.
    @Test func aMissedTimeAnotherNodeTookLetsTheNextOneGo() async throws {
        // Started before the missed times, so that the nodes are known when they come.
        let clock = ManualClock(t0.addingTimeInterval(-3 * 3600 + 60))
        var configuration = JobScheduler.Configuration(workers: 2, shutdownGrace: .seconds(5), defaultTimeZone: "UTC")
        configuration.node = "n1"
        let job = try #require((0..<50).map { "job\($0)" }.first { FirstNode.of(job: $0, among: ["n1", "n2"]) == "n2" })
        let asked = Mutex<[Date?]>([])
        let store = MemoryStore(claim: { start in
            asked.withLock { $0.append(start.scheduledAt) }
            return nil
        }, taken: { _, slot in slot == t0.addingTimeInterval(-2 * 3600) })
        let jobs = #"{"jobs": [{"name": "\#(job)", "handler": "ok", "schedule": "0 * * * *", "catch_up": "all"}]}"#
        try await withEngine(jobs: jobs, handlers: ok, clock: clock, configuration: configuration, store: store, prepare: { db in
            try await db.saveStates([(job, JobState(lastFireAt: t0.addingTimeInterval(-3 * 3600)))])
        }) { engine, log, _ in
            await engine.setNodesUp(["n1", "n2"])
            await engine.untilIdle()
            clock.advance(to: t0.addingTimeInterval(1800))
            await engine.untilIdle()
            #expect(asked.withLock { $0 }.isEmpty, "a missed time of the other node's job was asked for at once")
            clock.advance(by: 0.25)
            try await waitFor("the two missed times no node has taken") { await log.finished.count == 2 }
            await engine.untilIdle()
            let expected = [t0.addingTimeInterval(-3600), t0]
            #expect(await log.started.map(\.scheduledAt) == expected)
            #expect(asked.withLock { $0 } == expected)
        }
    }

    /// A handler that throws CancellationError by itself (nobody cancelled it) has failed.
    @Test func aHandlerThrowingCancellationOfItsOwnHasFailed() async throws {
        let handlers: [String: JobHandler] = ["quit": { _ in throw CancellationError() }]
        try await withEngine(jobs: #"{"jobs": [{"name": "j", "handler": "quit"}]}"#, handlers: handlers) { engine, log, _ in
            _ = try await engine.runNow("j")
            try await waitFor("the run to end") { await log.finished.count == 1 }
            #expect(await log.finished[0].status == .failed)
        }
    }

    /// A reload that reads the database while a pause's write is still on its way must not
    /// undo the pause (the engine's memory is ahead of the database, and wins).
    @Test func aReloadDoesNotUndoAPauseNotYetWritten() async throws {
        try await withEngine(jobs: #"{"jobs": [{"name": "j", "shell": "true", "schedule": "@hourly"}]}"#) { engine, _, db in
            try await engine.pauseJob("j")
            // The store as it was before the pause's write landed.
            try await db.saveStates([("j", JobState())])
            await engine.reloadJobs()
            #expect(await engine.summary().contains("1 paused"))
            // And what it writes next carries the pause.
            try await engine.resume("j")
            try await engine.pauseJob("j")
            #expect(try await db.job(named: "j")?.state.paused == true)
        }
    }

    /// A second main loop would fire every job twice.
    @Test func runCannotBeEnteredTwice() async throws {
        try await withEngine(jobs: #"{"jobs": []}"#) { engine, _, _ in
            await #expect(throws: APIError.self) { try await engine.run() }
        }
    }

    @Test func cancelStopsARun() async throws {
        let handlers: [String: JobHandler] = ["hang": { _ in try await Gate().wait() }]
        try await withEngine(jobs: #"{"jobs": [{"name": "j", "handler": "hang"}]}"#, handlers: handlers) { engine, log, _ in
            _ = try await engine.runNow("j")
            try await waitFor("the run to start") { await log.started.count == 1 }
            let id = await log.started[0].id
            try await engine.cancel(runID: id)
            try await waitFor("the run to end") { await log.finished.count == 1 }
            #expect(await log.finished[0].status == .cancelled)
            await #expect(throws: APIError.self) { try await engine.cancel(runID: id) }
        }
    }

    @Test func aServiceThatKeepsFailingHitsItsRestartLimit() async throws {
        let clock = ManualClock(t0)
        let jobs = #"""
            {"jobs": [{"name": "svc", "handler": "fail", "restart": "always", "restart_delay": "1s",
                       "restart_limit": {"burst": 3, "interval": "1m"}}]}
            """#
        try await withEngine(jobs: jobs, handlers: ok, clock: clock) { engine, log, db in
            try await drive(clock, engine: engine, until: "the service fails") {
                await log.events.contains(.jobPaused(job: "svc", reason: "restart_limit"))
            }
            let runs = await log.finished
            #expect(runs.map(\.trigger) == [.boot, .restart, .restart])
            #expect(try await db.job(named: "svc")?.state.pauseReason == "restart_limit")
            // Resume starts it again.
            try await engine.resume("svc")
            try await drive(clock, engine: engine, until: "it starts again") { await log.started.count == 4 }
        }
    }

    @Test func withTheDefaultsACrashLoopIsFailedWithinAMinute() async throws {
        let clock = ManualClock(t0)
        let jobs = #"{"jobs": [{"name": "svc", "handler": "fail", "restart": "always"}]}"#
        try await withEngine(jobs: jobs, handlers: ok, clock: clock) { engine, log, _ in
            try await drive(clock, engine: engine, until: "the service fails") {
                await log.events.contains(.jobPaused(job: "svc", reason: "restart_limit"))
            }
            let starts = await log.started.map { $0.startedAt.timeIntervalSince(t0) }
            #expect(starts.count == 5)
            #expect(try #require(starts.last) < 60)
            // 1 s doubling between starts (at least: the manual clock is driven in steps).
            let gaps = zip(starts.dropFirst(), starts).map { $0 - $1 }
            #expect(zip(gaps, [1.0, 2, 4, 8]).allSatisfy { $0 >= $1 }, "\(gaps)")
        }
    }

    @Test func servicesDoNotHoldWorkers() async throws {
        let gate = Gate()
        let handlers: [String: JobHandler] = ["serve": { _ in try await gate.wait() }, "ok": { _ in }]
        let services = (1...6).map { #"{"name": "svc\#($0)", "handler": "serve", "restart": "always"}"# }.joined(separator: ", ")
        let configuration = JobScheduler.Configuration(workers: 2, shutdownGrace: .seconds(5), defaultTimeZone: "UTC")
        try await withEngine(jobs: #"{"jobs": [\#(services), {"name": "job", "handler": "ok"}]}"#,
                             handlers: handlers, configuration: configuration) { engine, log, _ in
            try await waitFor("every service to start") { await log.started.count == 6 }
            #expect(await engine.load() == JobScheduler.Load(busy: 0, workers: 2, queued: 0, queuedJobs: [], services: 6, timeZone: "UTC"))
            _ = try await engine.runNow("job")
            try await waitFor("the job to run beside them") { await log.finished.contains { $0.job == "job" && $0.status == .succeeded } }
            gate.open()
        }
    }

    @Test func pauseStopsAServiceAndResumeStartsItByHand() async throws {
        let handlers: [String: JobHandler] = ["serve": { _ in try await Gate().wait() }]
        try await withEngine(jobs: #"{"jobs": [{"name": "svc", "handler": "serve", "restart": "always"}]}"#, handlers: handlers) { engine, log, _ in
            try await waitFor("the service to start") { await log.started.count == 1 }
            try await engine.pauseJob("svc")
            try await waitFor("the service to stop") { await log.finished.count == 1 }
            #expect(await log.finished[0].status == .cancelled)
            #expect(await engine.load().services == 0)
            try await engine.resume("svc")
            try await waitFor("the service to start again") { await log.started.count == 2 }
            #expect(await log.started[1].trigger == .manual)
        }
    }

    /// A run out of the pool whose start row is being written is its job's run all the same: a
    /// trigger in that moment is skipped under `forbid`, and under `replace` it replaces it.
    @Test(arguments: ["forbid", "replace"])
    func aRunWhoseStartIsBeingWrittenCountsForConcurrency(_ concurrency: String) async throws {
        let (store, writing, asked) = storeHoldingFirstStart(of: "j")
        let done = Gate()
        let handlers: [String: JobHandler] = ["block": { _ in try await done.wait() }]
        let jobs = #"{"jobs": [{"name": "j", "handler": "block", "concurrency": "\#(concurrency)"}]}"#
        try await withEngine(jobs: jobs, handlers: handlers, store: store) { engine, log, _ in
            // Whatever is found, the runs end and the engine stops.
            defer {
                writing.open()
                done.open()
            }
            #expect(try await engine.runNow("j") == .queued)
            try await waitFor("the first start to be written") { asked.isSet }
            let second = try await engine.runNow("j")
            writing.open()
            if concurrency == "forbid" {
                guard case let .skipped(skip) = second else { Issue.record("a second run started beside the first: \(second)"); return }
                #expect(skip.error == "skipped: a run of it is starting (concurrency: forbid)")
                try await waitFor("the first to start") { await log.started.count == 1 }
                await engine.untilIdle(busyWorkersToo: true)
                #expect(await log.started.count == 1)
            } else {
                #expect(second == .queued)
                try await waitFor("both to have started") { await log.started.count == 2 }
                try await waitFor("the first to be replaced") { await log.finished.count == 1 }
                let first = try #require(await log.finished.first)
                #expect(first.status == .cancelled, "\(first)")
                #expect(first.id == (await log.started.first?.id))
                #expect(first.error?.contains("replaced by a newer run") == true, "\(first.error ?? "")")
            }
        }
    }

    /// A cancel of a job whose run's start is being written stops that run as it begins,
    /// recorded `cancelled` by whoever asked: it started and ran to its end before.
    @Test func aCancelReachesARunWhoseStartIsBeingWritten() async throws {
        let (store, writing, asked) = storeHoldingFirstStart(of: "j")
        let done = Gate()
        let handlers: [String: JobHandler] = ["block": { _ in try await done.wait() }]
        try await withEngine(jobs: #"{"jobs": [{"name": "j", "handler": "block"}]}"#, handlers: handlers, store: store) { engine, log, _ in
            defer {
                writing.open()
                done.open()
            }
            #expect(try await engine.runNow("j") == .queued)
            try await waitFor("the start to be written") { asked.isSet }
            let cancelled = try await engine.cancel(job: "j", by: "uid 1000 (ann)")
            #expect(cancelled.runs.isEmpty && cancelled.waiting.isEmpty && cancelled.starting == 1)
            writing.open()
            try await waitFor("the run to end") { await log.finished.count == 1 }
            let run = try #require(await log.finished.first)
            #expect(run.status == .cancelled && run.error == "cancelled by schedctl" && run.cancelledBy == "uid 1000 (ann)", "\(run)")
        }
    }

    /// `catch_up: all` under `concurrency: forbid`: the next missed time waits for the run
    /// before it to end; a pause drops those that wait, and a shutdown records them skipped.
    @Test func catchUpAllRunsOneAfterAnotherAndStopsWithAPauseOrAShutdown() async throws {
        let store = MemoryStore()
        let gate = Gate()
        let handlers: [String: JobHandler] = ["block": { _ in try await gate.wait() }]
        let clock = ManualClock(t0.addingTimeInterval(1800))
        let jobs = #"{"jobs": [{"name": "hourly", "handler": "block", "schedule": "0 * * * *", "catch_up": "all"}]}"#
        try await withEngine(jobs: jobs, handlers: handlers, clock: clock, store: store, prepare: { db in
            try await db.saveStates([("hourly", JobState(lastFireAt: t0.addingTimeInterval(-3 * 3600)))])
        }) { engine, log, _ in
            clock.advance(by: 1)
            try await waitFor("the oldest missed time to start") { await log.started.count == 1 }
            await engine.untilIdle(busyWorkersToo: true)
            #expect(await log.started.count == 1)
            #expect(await log.finished.isEmpty, "a missed time was skipped beside the running one")
            #expect(await log.started.first?.scheduledAt == t0.addingTimeInterval(-2 * 3600))
            await engine.pause("hourly")
            gate.open()
            try await waitFor("the run to end") { await log.finished.count == 1 }
            await engine.untilIdle()
            #expect(await log.started.count == 1, "a missed time ran after the pause")
        }
        // Again, cancelled while the first one runs: it is stopped, the two others are
        // recorded as skipped, and nothing of the backlog starts after.
        let cancelGate = Gate()
        let held: [String: JobHandler] = ["block": { _ in try await cancelGate.wait() }]
        let third = ManualClock(t0.addingTimeInterval(1800))
        let cancelStore = MemoryStore()
        try await withEngine(jobs: jobs, handlers: held, clock: third, store: cancelStore, prepare: { db in
            try await db.saveStates([("hourly", JobState(lastFireAt: t0.addingTimeInterval(-3 * 3600)))])
        }) { engine, log, _ in
            defer { cancelGate.open() }
            third.advance(by: 1)
            try await waitFor("the oldest missed time to start") { await log.started.count == 1 }
            let cancelled = try await engine.cancel(job: "hourly", by: "uid 0 (root)")
            #expect(cancelled.runs.count == 1 && cancelled.waiting.count == 2, "\(cancelled)")
            try await waitFor("the run and the two missed times to end") { await log.finished.count == 3 }
            await engine.untilIdle()
            #expect(await log.started.count == 1, "a missed time ran after the cancel")
            let skipped = await log.finished.filter { $0.status == .skipped }
            #expect(skipped.compactMap(\.scheduledAt).sorted() == [t0.addingTimeInterval(-3600), t0])
            #expect(skipped.allSatisfy { $0.error == "skipped: cancelled before it started by uid 0 (root)" })
        }
        // Again, stopped while the first one runs: the two others are recorded as skipped.
        let stopped = Gate()
        let slow: [String: JobHandler] = ["block": { _ in try await stopped.wait() }]
        let again = ManualClock(t0.addingTimeInterval(1800))
        try await withEngine(jobs: jobs, handlers: slow, clock: again, store: store, prepare: { db in
            try await db.saveStates([("hourly", JobState(lastFireAt: t0.addingTimeInterval(-3 * 3600)))])
        }) { engine, log, _ in
            again.advance(by: 1)
            try await waitFor("the oldest missed time to start again") { await log.started.count == 1 }
            engine.shutdown()
            try await waitFor("the others to be recorded") { await log.finished.count == 2 }
            stopped.open()
        }
        let rows = try await store.history(HistoryQuery(job: "hourly", limit: 100), withOutput: false).filter { $0.status == .skipped }
        #expect(rows.map(\.scheduledAt) == [t0, t0.addingTimeInterval(-3600)])
        #expect(rows.allSatisfy { $0.error == "skipped: schedd shut down before its turn (catch_up: all, one after another)" })
    }

    @Test(arguments: [("none", 0), ("once", 1), ("all", 5)])
    func catchUpAfterDowntime(policy: String, expected: Int) async throws {
        // Last fired 5 hours before t0; the daemon comes back at t0 + 30 min.
        let clock = ManualClock(t0.addingTimeInterval(1800))
        let jobs = #"{"jobs": [{"name": "hourly", "handler": "ok", "schedule": "0 * * * *", "catch_up": "\#(policy)"}]}"#
        try await withEngine(jobs: jobs, handlers: ok, clock: clock, prepare: { db in
            try await db.saveStates([("hourly", JobState(lastFireAt: t0.addingTimeInterval(-5 * 3600)))])
        }) { engine, log, db in
            clock.advance(by: 1)
            if expected > 0 {
                try await waitFor("catch-up runs") { await log.finished.count == expected }
            }
            // No more than that: checked once the engine is idle, in the database.
            await engine.untilIdle()
            #expect(try await db.history(HistoryQuery(job: "hourly", limit: 1000)).count == expected)
            let runs = await log.finished
            #expect(runs.count == expected)
            #expect(runs.allSatisfy { $0.trigger == .catchUp })
            // Run, not recorded as skipped beside one another (concurrency: forbid).
            #expect(runs.allSatisfy { $0.status == .succeeded }, "\(runs.map { "\($0.status) \($0.error ?? "")" })")
            if policy == "once" { #expect(runs.first?.scheduledAt == t0) }
            if policy == "all" {
                // Oldest first, each after the one before has ended.
                #expect(runs.compactMap(\.scheduledAt) == (0..<5).map { t0.addingTimeInterval(Double($0 - 4) * 3600) })
                for (before, after) in zip(runs, runs.dropFirst()) { #expect(after.startedAt >= before.finishedAt!) }
            }
            let state = try await db.job(named: "hourly")?.state
            #expect(state?.lastFireAt == t0)
            #expect(state?.nextRunAt == t0.addingTimeInterval(3600))
        }
    }

    /// `catch_up: once` back in time for a slot: that slot's run is the one run (trigger
    /// `schedule`, its own time), and nothing is recorded skipped. Before, the latest missed
    /// slot ran as a catch-up and the slot on time beside it was skipped (concurrency: forbid).
    @Test func catchUpOnceBackInTimeForASlotRunsThatSlotAlone() async throws {
        let clock = ManualClock(t0.addingTimeInterval(10))
        let jobs = #"{"jobs": [{"name": "hourly", "handler": "ok", "schedule": "0 * * * *", "catch_up": "once"}]}"#
        try await withEngine(jobs: jobs, handlers: ok, clock: clock, prepare: { db in
            try await db.saveStates([("hourly", JobState(lastFireAt: t0.addingTimeInterval(-5 * 3600)))])
        }) { engine, log, db in
            clock.advance(by: 1)
            try await waitFor("the run") { await log.finished.count == 1 }
            await engine.untilIdle()
            let runs = try await db.history(HistoryQuery(job: "hourly", limit: 100))
            #expect(runs.map { "\($0.trigger) \($0.status) \($0.scheduledAt.map(Timestamp.format) ?? "")" }
                        == ["schedule succeeded \(Timestamp.format(t0))"])
            #expect(try await db.job(named: "hourly")?.state.nextRunAt == t0.addingTimeInterval(3600))
        }
    }

    /// A job that never fired before the daemon went down catches up from the slot it was
    /// waiting for: its first slots are missed times too (a monthly job created on the 15th,
    /// the machine down over the 1st). It went from the next start, and they were lost unsaid.
    @Test(arguments: [("none", 0), ("once", 1), ("all", 3)])
    func aJobThatNeverFiredCatchesUpFromItsFirstSlot(policy: String, expected: Int) async throws {
        let store = MemoryStore()
        let jobs = #"{"jobs": [{"name": "hourly", "handler": "ok", "schedule": "0 * * * *", "catch_up": "\#(policy)"}]}"#
        try await withEngine(jobs: jobs, handlers: ok, clock: ManualClock(t0.addingTimeInterval(-600)), store: store) { _, _, db in
            let next = try await db.job(named: "hourly")?.state.nextRunAt
            #expect(next == t0)
        }
        let before = try await store.history(HistoryQuery(job: "hourly", limit: 10))
        #expect(before.isEmpty)
        // Down until 2 h 30 min past the slot it waited for: three slots missed.
        let clock = ManualClock(t0.addingTimeInterval(2 * 3600 + 1800))
        try await withEngine(jobs: jobs, handlers: ok, clock: clock, store: store) { engine, log, db in
            clock.advance(by: 1)
            if expected > 0 {
                try await waitFor("catch-up runs") { await log.finished.count == expected }
            }
            await engine.untilIdle()
            let runs = try await db.history(HistoryQuery(job: "hourly", limit: 100))
            #expect(runs.count == expected)
            #expect(runs.allSatisfy { $0.trigger == .catchUp && $0.status == .succeeded })
            if policy == "once" { #expect(runs.first?.scheduledAt == t0.addingTimeInterval(2 * 3600)) }
            if policy == "all" { #expect(Set(runs.compactMap(\.scheduledAt)) == Set((0..<3).map { t0.addingTimeInterval(Double($0) * 3600) })) }
            #expect(try await db.job(named: "hourly")?.state.nextRunAt == t0.addingTimeInterval(3 * 3600))
        }
    }

    /// A job that never fired and whose stored next run is still ahead keeps that slot (its
    /// jitter aside, no earlier one), as from the start.
    @Test func aJobThatNeverFiredKeepsItsSlotAheadAcrossARestart() async throws {
        let store = MemoryStore()
        let jobs = #"{"jobs": [{"name": "j", "handler": "ok", "schedule": "0 * * * *", "jitter": "25m", "catch_up": "all"}]}"#
        try await withEngine(jobs: jobs, handlers: ok, clock: ManualClock(t0.addingTimeInterval(-60)), random: { 0.9 }, store: store) { _, _, db in
            let next = try await db.job(named: "j")?.state.nextRunAt
            #expect(next == t0.addingTimeInterval(25 * 60 * 0.9))
        }
        let clock = ManualClock(t0.addingTimeInterval(-30))
        try await withEngine(jobs: jobs, handlers: ok, clock: clock, random: { 0 }, store: store) { engine, log, db in
            await engine.untilIdle()
            #expect(await log.finished.isEmpty)
            let next = try await db.job(named: "j")?.state.nextRunAt
            #expect(next == t0)
        }
    }

    /// The barrier the negative checks rely on: after `untilIdle()`, whatever was due at the
    /// clock's time has run and is recorded — no waiting for it, no sleeping.
    @Test func untilIdleWaitsForWhatIsDue() async throws {
        let clock = ManualClock(t0.addingTimeInterval(1))
        let jobs = #"{"jobs": [{"name": "a", "handler": "ok", "schedule": "* * * * *"}, {"name": "b", "handler": "ok", "schedule": "*/2 * * * *"}]}"#
        try await withEngine(jobs: jobs, handlers: ok, clock: clock) { engine, _, db in
            for minute in 1...4 {
                clock.advance(to: t0.addingTimeInterval(Double(minute) * 60))
                await engine.untilIdle()
                let runs = try await db.history(HistoryQuery(limit: 100))
                #expect(runs.count == minute + minute / 2, "minute \(minute)")
                #expect(runs.allSatisfy { $0.status == .succeeded })
            }
        }
    }

    @Test func jitterDelaysTheFire() async throws {
        let clock = ManualClock(t0.addingTimeInterval(1))
        try await withEngine(jobs: #"{"jobs": [{"name": "j", "handler": "ok", "schedule": "0 * * * *", "jitter": "10m"}]}"#,
                             handlers: ok, clock: clock, random: { 0.5 }) { engine, log, db in
            #expect(try await db.job(named: "j")?.state.nextRunAt == t0.addingTimeInterval(3600 + 300))
            clock.advance(to: t0.addingTimeInterval(3600 + 299))
            await engine.untilIdle()
            #expect(try await db.history(HistoryQuery(limit: 10)).isEmpty)
            clock.advance(to: t0.addingTimeInterval(3600 + 300))
            try await waitFor("the jittered run") { await log.finished.count == 1 }
            #expect(await log.finished[0].scheduledAt == t0.addingTimeInterval(3600))
        }
    }

    @Test func pausedAndDisabledJobsDoNotFire() async throws {
        let clock = ManualClock(t0.addingTimeInterval(1))
        let jobs = #"""
            {"jobs": [{"name": "off", "handler": "ok", "schedule": "* * * * *", "enabled": false},
                      {"name": "paused", "handler": "ok", "schedule": "* * * * *"},
                      {"name": "on", "handler": "ok", "schedule": "* * * * *"}]}
            """#
        try await withEngine(jobs: jobs, handlers: ok, clock: clock) { engine, log, db in
            await engine.pause("paused")
            clock.advance(to: t0.addingTimeInterval(60))
            try await waitFor("the active job's run") { await log.finished.count == 1 }
            await engine.untilIdle()
            #expect(try await db.history(HistoryQuery(limit: 10)).map(\.job) == ["on"])
        }
    }

    /// A definition edited by hand in the database into one that no longer validates: the job
    /// does not run, the other jobs do, and it is named with what is wrong on one line.
    @Test func aDefinitionEditedByHandIntoAnInvalidOneIsReportedNotRun() async throws {
        let temp = try TemporaryDatabase()
        let jobs = #"{"jobs": [{"name": "bad", "handler": "ok", "schedule": "@every 1s"}, {"name": "good", "handler": "ok", "schedule": "@every 1s"}]}"#
        let ok: [String: JobHandler] = ["ok": { _ in }]
        try await withEngine(jobs: jobs, handlers: ok, store: temp.database, prepare: { _ in
            try await temp.database.pool.write { db in
                try db.execute(sql: "UPDATE jobs SET spec = json_set(spec, '$.schedule', '61 * * * *', '$.retries', 'x') WHERE name = 'bad'")
            }
        }) { engine, _, store in
            let invalid = await engine.load().invalidJobs
            #expect(Array(invalid.keys) == ["bad"])
            let why = try #require(invalid["bad"])
            #expect(!why.contains("\n") && why.contains("minute field \"61\"") && why.contains("retries"), "\(why)")
            let counts = StatusResponse.Jobs(counting: try await store.jobs())
            #expect(counts.problems == [StatusResponse.Problem(job: "bad", state: "invalid", reason: why)])
            _ = try await engine.runNow("good")
            try await waitFor("good to run") { try await store.history(HistoryQuery(job: "good"), withOutput: false).count == 1 }
            await #expect(throws: APIError.self) { try await engine.runNow("bad") }
            // Mended by an apply, it runs and is no longer reported.
            _ = try await engine.apply(jobFile: #"{"jobs": [{"name": "bad", "handler": "ok"}]}"#)
            #expect(await engine.load().invalidJobs.isEmpty)
            _ = try await engine.runNow("bad")
            try await waitFor("bad to run") { try await store.history(HistoryQuery(job: "bad"), withOutput: false).count == 1 }
        }
    }

    /// An attempt that fails on its own during the shutdown's grace period keeps its retry:
    /// marked with its end, and taken up by the next engine on the store, due when it was.
    @Test func anAttemptFailingDuringTheShutdownGraceKeepsItsRetry() async throws {
        let store = MemoryStore()
        let clock = ManualClock(t0)
        let gate = Gate()
        let jobs = #"{"jobs": [{"name": "flaky", "handler": "fail", "retries": 1, "retry_backoff": "2m"}]}"#
        let failing: [String: JobHandler] = ["fail": { _ in try await gate.wait(); throw TestError() }]
        try await withEngine(jobs: jobs, handlers: failing, clock: clock, store: store) { engine, log, _ in
            _ = try await engine.runNow("flaky")
            try await waitFor("the run to start") { await engine.activeRuns().count == 1 }
            engine.shutdown()
            try await waitFor("the engine to wait out the grace period") { clock.nextDeadline != nil }
            gate.open()
            try await waitFor("the attempt to fail") { await log.finished.count == 1 }
            #expect(await log.finished.first?.status == .failed)
        }
        let pending = try await store.pendingRetries()
        // With random 0, half the backoff: due a minute after the failure.
        #expect(pending.map(\.due) == [t0.addingTimeInterval(60)], "the failed attempt's retry was dropped at shutdown")
        let succeeding: [String: JobHandler] = ["fail": { _ in }]
        try await withEngine(jobs: jobs, handlers: succeeding, clock: clock, store: store) { engine, log, _ in
            try await waitFor("the retry") { await log.finished.count == 1 }
            let retry = try #require(await log.finished.first)
            #expect(retry.trigger == .retry && retry.attempt == 2 && retry.status == .succeeded && retry.retryOf == pending.first?.run.id)
        }
    }

    /// A run that ends on its own during the shutdown's grace period, with no retry, leaves
    /// its final result to the next start: its failure counted (and the job paused at its
    /// threshold), `on_failure` and `on_success` run then, once; a run the shutdown stops
    /// leaves none. On either store.
    @Test(arguments: [false, true]) func aFinalResultDuringTheShutdownGraceIsAppliedAtTheNextStart(sqlite: Bool) async throws {
        let temp = try TemporaryDatabase()
        let store: any SchedulerStore = sqlite ? temp.database : MemoryStore()
        let clock = ManualClock(t0)
        let gate = Gate()
        let jobs = #"""
            {"jobs": [{"name": "bad", "handler": "fail", "on_failure": "alert", "max_consecutive_failures": 1},
                      {"name": "good", "handler": "pass", "on_success": "done"},
                      {"name": "long", "handler": "hang", "on_failure": "alert"},
                      {"name": "alert", "handler": "ok"}, {"name": "done", "handler": "ok"}]}
            """#
        let handlers: [String: JobHandler] = [
            "fail": { _ in try await gate.wait(); throw TestError() }, "pass": { _ in try await gate.wait() },
            "hang": { _ in try await Gate().wait() }, "ok": { _ in },
        ]
        var ended: [String: Int64] = [:]
        try await withEngine(jobs: jobs, handlers: handlers, clock: clock, store: store) { engine, log, _ in
            for job in ["bad", "good", "long"] { _ = try await engine.runNow(job) }
            try await waitFor("the runs to start") { await engine.activeRuns().count == 3 }
            engine.shutdown()
            try await waitFor("the engine to wait out the grace period") { clock.nextDeadline != nil }
            gate.open()
            try await waitFor("two runs to end") { await log.finished.count == 2 }
            for run in await log.finished { ended[run.job] = run.id }
        }
        // The engine has stopped: what followed the ends did not run in it.
        let first = try await store.history(HistoryQuery(), withOutput: false)
        #expect(Set(first.map(\.job)) == ["bad", "good", "long"], "a follow-up ran while schedd stopped")
        #expect(try await store.pendingPolicies().map(\.job).sorted() == ["bad", "good"])
        try await withEngine(jobs: jobs, handlers: handlers, clock: clock, store: store) { engine, log, store in
            try await waitFor("the follow-ups") { await log.finished.count == 2 }
            let followUps = Dictionary(uniqueKeysWithValues: await log.finished.map { ($0.job, $0) })
            #expect(followUps["alert"]?.trigger == .dependency && followUps["alert"]?.triggeredByRun == ended["bad"],
                    "on_failure of the run that failed while schedd stopped did not run at the next start")
            #expect(followUps["done"]?.trigger == .dependency && followUps["done"]?.triggeredByRun == ended["good"])
            let bad = try #require(try await store.job(named: "bad"))
            #expect(bad.state.consecutiveFailures == 1 && bad.state.paused && bad.state.pauseReason == "failure_threshold")
            #expect(try await store.pendingPolicies().isEmpty)
            await engine.untilIdle()
        }
        // Applied once: a third start runs nothing.
        try await withEngine(jobs: jobs, handlers: handlers, clock: clock, store: store) { engine, _, _ in
            await engine.untilIdle()
        }
        let runs = try await store.history(HistoryQuery(), withOutput: false)
        #expect(runs.filter { $0.trigger == .dependency }.map(\.job).sorted() == ["alert", "done"])
    }

    /// The mark of a final result left for the next start goes into the store with the run's
    /// end, not in a write after it that a crash could come before: with every separate mark
    /// refused, it is still there.
    @Test func aFinalResultLeftForTheNextStartIsMarkedWithTheRunsEnd() async throws {
        let store = MemoryStore()
        store.failPolicyMarks(with: TestError())
        let clock = ManualClock(t0)
        let gate = Gate()
        let jobs = #"{"jobs": [{"name": "bad", "handler": "fail", "on_failure": "alert"}, {"name": "alert", "handler": "ok"}]}"#
        let handlers: [String: JobHandler] = ["fail": { _ in try await gate.wait(); throw TestError() }, "ok": { _ in }]
        try await withEngine(jobs: jobs, handlers: handlers, clock: clock, store: store) { engine, log, _ in
            _ = try await engine.runNow("bad")
            try await waitFor("the run to start") { await engine.activeRuns().count == 1 }
            engine.shutdown()
            try await waitFor("the engine to wait out the grace period") { clock.nextDeadline != nil }
            gate.open()
            try await waitFor("the run to end") { await log.finished.count == 1 }
        }
        #expect(try await store.pendingPolicies().map(\.job) == ["bad"])
    }

    @Test func shutdownStopsRunsAfterTheGracePeriodAndRecordsThem() async throws {
        let clock = ManualClock(t0)
        let handlers: [String: JobHandler] = ["hang": { _ in try await Gate().wait() }]
        let temp = try TemporaryDatabase()
        _ = try await temp.database.jobs.apply(try JobFile(data: Array(#"{"jobs": [{"name": "j", "handler": "hang"}]}"#.utf8),
                                                           context: ValidationContext(runningAsRoot: true, handlers: ["hang"])))
        let engine = JobScheduler(database: temp.database, handlers: handlers,
                                  configuration: .init(workers: 2, shutdownGrace: .seconds(10), defaultTimeZone: "UTC"), clock: clock)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await engine.run() }
            try await waitFor("the engine to start") { await engine.isReady }
            _ = try await engine.runNow("j")
            try await waitFor("the run to start") { await engine.activeRuns().count == 1 }
            engine.shutdown()
            // The engine now sleeps until the end of its grace period.
            try await waitFor("the engine to wait out the grace period") { clock.nextDeadline != nil }
            let deadline = try #require(clock.nextDeadline)
            #expect(abs(deadline.timeIntervalSince(clock.now()) - 10) < 0.001)
            clock.advance(to: deadline.addingTimeInterval(-1))
            // The barrier: the engine still sleeps until the same deadline (nothing woke it).
            #expect(clock.nextDeadline == deadline)
            #expect(await engine.activeRuns().count == 1)  // still within the grace period
            clock.advance(to: deadline)
            try await group.next()
        }
        let runs = try await temp.database.runs.history(HistoryQuery())
        #expect(runs.map(\.status) == [.cancelled])
        #expect(runs.first?.error?.contains("shutdown") == true)
    }
}

extension JobSchedulerTests {
    /// A run that the shutdown stops past its grace period is `cancelled`, and retried at the
    /// next start when its job has retries left, at once: its work was not done, as after a
    /// crash. A run cancelled by a caller meanwhile is not, nor one of a job without retries.
    @Test func aRunStoppedByTheShutdownIsRetriedAtTheNextStart() async throws {
        let clock = ManualClock(t0)
        let temp = try TemporaryDatabase()
        let jobs = #"""
            {"jobs": [{"name": "long", "handler": "hang", "retries": 1, "retry_backoff": "1h"},
                      {"name": "once", "handler": "hang"},
                      {"name": "byhand", "handler": "hang", "retries": 1}]}
            """#
        _ = try await temp.database.jobs.apply(try JobFile(data: Array(jobs.utf8), context: ValidationContext(runningAsRoot: true, handlers: ["hang"])))
        let configuration = JobScheduler.Configuration(workers: 4, shutdownGrace: .seconds(10), defaultTimeZone: "UTC")
        let hanging: [String: JobHandler] = ["hang": { _ in try await Gate().wait() }]
        let first = JobScheduler(database: temp.database, handlers: hanging, configuration: configuration, clock: clock)
        var stoppedAt = t0
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await first.run() }
            try await waitFor("the engine to start") { await first.isReady }
            for job in ["long", "once", "byhand"] { _ = try await first.runNow(job) }
            try await waitFor("the runs to start") { await first.activeRuns().count == 3 }
            first.shutdown()
            try await waitFor("the engine to wait out the grace period") { clock.nextDeadline != nil }
            let byHand = try #require(await first.activeRuns().first { $0.job == "byhand" })
            try await first.cancel(runID: byHand.id, by: "tester")
            try await waitFor("the run cancelled by hand to end") { await first.activeRuns().count == 2 }
            stoppedAt = try #require(clock.nextDeadline)
            clock.advance(to: stoppedAt)
            try await group.next()
        }
        let ended = try await temp.database.runs.history(HistoryQuery())
        #expect(ended.map(\.status) == [.cancelled, .cancelled, .cancelled])
        let long = try #require(ended.first { $0.job == "long" })
        #expect(long.error?.contains("shutdown") == true)
        let pending = try await temp.database.runs.pendingRetries()
        #expect(pending.map(\.run.id) == [long.id], "only the run of a job with retries that the shutdown stopped is retried")
        #expect(pending.first?.due == stoppedAt)
        // The next start takes it up at once, though its backoff is an hour.
        clock.advance(by: 5)
        let finishing: [String: JobHandler] = ["hang": { _ in }]
        let second = JobScheduler(database: temp.database, handlers: finishing, configuration: configuration, clock: clock)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await second.run() }
            try await waitFor("the retry to run") {
                try await temp.database.runs.history(HistoryQuery(job: "long")).contains { $0.status == .succeeded }
            }
            await second.untilIdle()
            second.shutdown()
            try await group.next()
        }
        let runs = try await temp.database.runs.history(HistoryQuery())
        #expect(runs.count == 4, "only long is retried: \(runs.map { "\($0.job) \($0.status)" })")
        let retry = try #require(runs.first { $0.job == "long" && $0.status == .succeeded })
        #expect(retry.trigger == .retry && retry.attempt == 2 && retry.retryOf == long.id)
        #expect(try await temp.database.runs.pendingRetries().isEmpty)
    }

    /// An `@reboot` job's run that the shutdown stops (or that fails as schedd stops) gets no
    /// retry: the job runs at the next start anyway, once, as after a crash.
    @Test func aRebootJobsRunStoppedByTheShutdownRunsOnceAtTheNextStart() async throws {
        let clock = ManualClock(t0)
        let store = MemoryStore()
        let gate = Gate()
        let jobs = #"{"jobs": [{"name": "boot", "handler": "hang", "schedule": "@reboot", "retries": 2}]}"#
        let hanging: [String: JobHandler] = ["hang": { _ in try await gate.wait() }]
        try await withEngine(jobs: jobs, handlers: hanging, clock: clock, store: store) { engine, log, _ in
            try await waitFor("the boot run") { await engine.activeRuns().count == 1 }
            engine.shutdown()
            try await waitFor("the engine to wait out the grace period") { clock.nextDeadline != nil }
            clock.advance(to: try #require(clock.nextDeadline))
            try await waitFor("the run to be stopped") { await log.finished.count == 1 }
        }
        let stopped = try await store.history(HistoryQuery(job: "boot"), withOutput: false)
        #expect(stopped.map(\.status) == [.cancelled])
        #expect(try await store.pendingRetries().isEmpty, "a retry beside the next start's run")
        let finishing: [String: JobHandler] = ["hang": { _ in }]
        try await withEngine(jobs: jobs, handlers: finishing, clock: clock, store: store) { engine, log, _ in
            try await waitFor("the boot run") { await log.finished.count == 1 }
            await engine.untilIdle()
            #expect(await log.finished.map(\.trigger) == [.boot])
        }
    }
}

@Suite struct RetryPolicyTests {
    @Test func backoffDoublesUpToTheMaximumWithEqualJitter() {
        let d = { (attempt: Int, random: Double) in
            RetryPolicy.retryDelay(afterAttempt: attempt, base: .seconds(1), maximum: .seconds(10), random: random)
        }
        #expect(d(1, 0) == .milliseconds(500))
        #expect(d(1, 0.999_999) == .milliseconds(999))
        #expect(d(2, 0) == .seconds(1))
        #expect(d(3, 0) == .seconds(2))
        #expect(d(4, 0) == .seconds(4))
        #expect(d(5, 0) == .seconds(5))  // capped at 10s, halved
        #expect(d(50, 0) == .seconds(5))
    }

    @Test func restartDelayDoublesToAMinute() {
        #expect(RetryPolicy.restartDelay(base: .seconds(1), streak: 1, maximum: .seconds(60)) == .seconds(1))
        #expect(RetryPolicy.restartDelay(base: .seconds(1), streak: 3, maximum: .seconds(60)) == .seconds(4))
        #expect(RetryPolicy.restartDelay(base: .seconds(1), streak: 30, maximum: .seconds(60)) == .seconds(60))
        #expect(RetryPolicy.restartDelay(base: .milliseconds(100), streak: 4, maximum: .milliseconds(300)) == .milliseconds(300))
        #expect(RetryPolicy.restartDelay(base: .seconds(5), streak: 1, maximum: .seconds(1)) == .seconds(5))
    }
}

/// Refuses the starts of retries that wait for their job (`RunStart.waitsForJob`) as busy on
/// node n2 while `busy`, and counts them.
final class RetriesRefusedElsewhere: Sendable {
    private let state = Mutex((busy: true, asked: 0))

    var busy: Bool {
        get { state.withLock { $0.busy } }
        set { state.withLock { $0.busy = newValue } }
    }

    var asked: Int { state.withLock { $0.asked } }

    /// `MemoryStore`'s claim hook.
    func claim(_ start: RunStart) -> RunStart.Outcome? {
        guard start.trigger == .retry, start.waitsForJob else { return nil }
        return state.withLock { state in
            state.asked += 1
            return state.busy ? .jobBusyElsewhere(runID: 99, node: "n2") : nil
        }
    }
}
