import Foundation
import Testing
@testable import Scheduler
import SchedulerAPI

/// Order, requirements, readiness and the restart rules of services, on the engine with a
/// manual clock and in-process handlers.
@Suite struct ServiceDependencyTests {
    /// Handlers: `serve` runs until cancelled, `crash` fails at once, `ok` returns.
    let handlers: [String: JobHandler] = [
        "serve": { _ in try await Gate().wait() },
        "crash": { _ in throw TestError() },
        "ok": { _ in },
    ]

    static let stack = #"""
        {"jobs": [
          {"name": "worker", "handler": "serve", "restart": "always", "requires": ["app"], "ready_after": "1s"},
          {"name": "app", "handler": "serve", "restart": "always", "requires": ["db"], "ready_after": "2s"},
          {"name": "db", "handler": "serve", "restart": "always", "ready_after": "3s"},
          {"name": "nightly", "handler": "ok", "requires": ["db", "app"]}
        ]}
        """#

    @Test func servicesStartInDependencyOrderOnceWhatTheyRequireIsReady() async throws {
        let clock = ManualClock(t0)
        try await withEngine(jobs: Self.stack, handlers: handlers, clock: clock) { engine, log, _ in
            try await waitFor("db to start") { await log.started.map(\.job) == ["db"] }
            await engine.untilIdle()
            #expect(await engine.serviceStates()["db"]?.state == "starting")
            #expect(await engine.serviceStates()["app"]?.state == "waiting")
            #expect(await engine.serviceStates()["app"]?.reason == "requires db, which is starting")
            #expect(await log.started.map(\.job) == ["db"])
            try await drive(clock, engine: engine, until: "the stack to be up") { await engine.serviceStates()["worker"]?.state == "ready" }
            let started = await log.started
            #expect(started.map(\.job) == ["db", "app", "worker"])
            // Each waited for the previous one's ready_after: 3 s, then 2 s more.
            let at = Dictionary(uniqueKeysWithValues: started.map { ($0.job, $0.startedAt.timeIntervalSince(t0)) })
            #expect(try #require(at["app"]) >= 3)
            let app = try #require(at["app"])
            #expect(try #require(at["worker"]) >= app + 2)
        }
    }

    @Test func aJobThatRequiresAServiceIsSkippedUntilItIsReadyThenRuns() async throws {
        let clock = ManualClock(t0)
        try await withEngine(jobs: Self.stack, handlers: handlers, clock: clock) { engine, log, _ in
            try await waitFor("db to start") { await log.started.count == 1 }
            guard case let .skipped(record) = try await engine.runNow("nightly") else {
                Issue.record("expected the run to be skipped")
                return
            }
            #expect(record.error == "skipped: requires db, which is starting")
            try await drive(clock, engine: engine, until: "app is ready") { await engine.serviceStates()["app"]?.state == "ready" }
            #expect(try await engine.runNow("nightly") == .queued)
            try await waitFor("nightly to run") { await log.finished.contains { $0.job == "nightly" && $0.status == .succeeded } }
        }
    }

    @Test func requiresWaitHoldsARunUntilTheServiceIsReady() async throws {
        let clock = ManualClock(t0)
        let jobs = #"""
            {"jobs": [{"name": "db", "handler": "serve", "restart": "always", "ready_after": "5s"},
                      {"name": "report", "handler": "ok", "requires": ["db"], "requires_wait": "10s"},
                      {"name": "hurry", "handler": "ok", "requires": ["db"], "requires_wait": "2s"}]}
            """#
        try await withEngine(jobs: jobs, handlers: handlers, clock: clock) { engine, log, _ in
            try await waitFor("db to start") { await log.started.count == 1 }
            #expect(try await engine.runNow("report") == .queued)
            #expect(try await engine.runNow("hurry") == .queued)
            try await drive(clock, engine: engine, until: "report runs") { await log.finished.contains { $0.job == "report" } }
            let finished = await log.finished
            #expect(finished.first { $0.job == "report" }?.status == .succeeded)
            let hurry = try #require(finished.first { $0.job == "hurry" })
            #expect(hurry.status == .skipped)
            #expect(hurry.error == "skipped: requires db, which is starting (waited 2s, requires_wait)")
        }
    }

    /// `schedctl run` of a job whose `requires_wait` runs out gets the skipped row, with its
    /// id and why, as a run skipped at once gives it (it was told only "not started").
    @Test func aRunByHandWhoseRequiresWaitRunsOutAnswersWithItsSkippedRow() async throws {
        let clock = ManualClock(t0)
        let jobs = #"""
            {"jobs": [{"name": "db", "handler": "serve", "restart": "always", "ready_after": "1h"},
                      {"name": "hurry", "handler": "ok", "requires": ["db"], "requires_wait": "2s"}]}
            """#
        try await withEngine(jobs: jobs, handlers: handlers, clock: clock) { engine, log, _ in
            try await waitFor("db to start") { await log.started.count == 1 }
            async let answer = engine.start("hurry", by: "uid 0 (root)")
            try await waitFor("the run to be held") { await engine.isStarting("hurry") }
            try await drive(clock, engine: engine, until: "the wait to run out") { await log.finished.contains { $0.job == "hurry" } }
            let (started, record) = try await answer
            #expect(!started)
            #expect(record.status == .skipped && record.job == "hurry" && record.id > 0)
            #expect(record.error == "skipped: requires db, which is starting (waited 2s, requires_wait)")
            #expect(try await engine.store.run(id: record.id)?.status == .skipped)
        }
    }

    @Test func whenARequiredServiceFailsForGoodWhatRequiresItStopsAndComesBackWithIt() async throws {
        let clock = ManualClock(t0)
        let crashing = Gate()
        let repaired = StopFlag()
        let handlers: [String: JobHandler] = [
            "serve": { _ in try await Gate().wait() },
            // Serves until the gate opens, then fails at once on every start, until repaired.
            "db": { _ in
                if repaired.isSet { try await Gate().wait() }
                try await crashing.wait()
                throw TestError()
            },
        ]
        let jobs = #"""
            {"jobs": [{"name": "db", "handler": "db", "restart": "always", "ready_after": "1s", "restart_limit": {"burst": 2, "interval": "1m"}},
                      {"name": "app", "handler": "serve", "restart": "always", "requires": ["db"], "ready_after": "1s"},
                      {"name": "worker", "handler": "serve", "restart": "always", "requires": ["app"], "ready_after": "1s"}]}
            """#
        try await withEngine(jobs: jobs, handlers: handlers, clock: clock) { engine, log, _ in
            try await drive(clock, engine: engine, until: "the stack to be up") { await engine.serviceStates()["worker"]?.state == "ready" }
            crashing.open()
            try await drive(clock, engine: engine, until: "db fails for good") { await engine.serviceStates()["db"]?.state == "failed" }
            try await waitFor("app and worker to stop") { await log.finished.filter { $0.job != "db" }.count == 2 }
            let states = await engine.serviceStates()
            #expect(states["app"]?.state == "waiting")
            #expect(states["app"]?.reason == "requires db, which is failed (restart_limit)")
            #expect(states["worker"]?.state == "waiting")
            #expect(states["worker"]?.reason?.hasPrefix("requires app") == true)
            let stopped = await log.finished.filter { $0.job != "db" }
            #expect(stopped.map(\.job) == ["worker", "app"], "what requires a service stops first")
            #expect(stopped.allSatisfy { $0.status == .cancelled && $0.error?.contains("requires") == true })

            // Back: db is repaired and resumed, app and worker follow.
            repaired.set()
            try await engine.resume("db")
            try await drive(clock, engine: engine, until: "the stack to be up again") { await engine.serviceStates()["worker"]?.state == "ready" }
            #expect(await log.started.suffix(3).map(\.job) == ["db", "app", "worker"])
        }
    }

    @Test func restartLimitNoneNeverGivesUpAndTheDelayGrowsToItsCap() async throws {
        let clock = ManualClock(t0)
        let jobs = #"""
            {"jobs": [{"name": "loop", "handler": "crash", "restart": "on-failure", "restart_limit": "none",
                       "restart_delay": "1s", "restart_delay_max": "8s"}]}
            """#
        try await withEngine(jobs: jobs, handlers: handlers, clock: clock) { engine, log, _ in
            // Each time the run has ended and its restart waits, the clock jumps to when it is due.
            for count in 1...11 {
                var due: Date?
                try await waitFor("run \(count) to end and the engine to sleep until its restart") {
                    due = await engine.serviceStatus("loop")?.restartAt
                    return await log.finished.count == count && due != nil && clock.nextDeadline == due
                }
                clock.advance(to: try #require(due))
            }
            try await waitFor("the twelfth start") { await log.started.count == 12 }
            let starts = await log.started.map { $0.startedAt.timeIntervalSince(t0) }
            let gaps = zip(starts.dropFirst(), starts).map { $0 - $1 }
            #expect(gaps == [1, 2, 4, 8, 8, 8, 8, 8, 8, 8, 8])
        }
    }

    @Test func theRestartDelayStartsAgainAfterTheServiceStayedUp() async throws {
        let clock = ManualClock(t0)
        let failing = Gate()
        let runs = RunCounter()
        let handlers: [String: JobHandler] = ["svc": { _ in
            // The first three runs fail at once, the fourth stays up until the gate opens,
            // then every run fails at once again.
            let n = runs.next()
            if n == 4 { try await failing.wait() }
            throw TestError()
        }]
        let jobs = #"""
            {"jobs": [{"name": "svc", "handler": "svc", "restart": "on-failure", "restart_limit": "none",
                       "restart_delay": "1s", "restart_reset_after": "1m"}]}
            """#
        try await withEngine(jobs: jobs, handlers: handlers, clock: clock) { engine, log, _ in
            try await drive(clock, engine: engine, until: "the fourth start") { await log.started.count == 4 }
            clock.advance(by: 120)
            failing.open()
            try await waitFor("the fourth run to end and its restart to wait") {
                let state = await engine.serviceStates()["svc"]?.state
                return await log.finished.count == 4 && state == "restarting"
            }
            let ended = try #require(await log.finished.last?.finishedAt)
            let restartAt = try #require(await engine.serviceStatus("svc")?.restartAt)
            // Up for 2 min: restarted after restart_delay again, not after 8 s.
            #expect(restartAt.timeIntervalSince(ended) == 1)
        }
    }

    /// A job ordered after another that fires at the same time starts once that run has
    /// ended: not while its start is being written either (it was let go then, and the two ran
    /// side by side).
    @Test func aJobOrderedAfterAnotherStartsOnceItsRunHasEnded() async throws {
        let clock = ManualClock(t0.addingTimeInterval(-1))
        let gate = Gate()
        let handlers: [String: JobHandler] = ["load": { _ in try await gate.wait() }, "ok": { _ in }]
        let jobs = #"""
            {"jobs": [{"name": "load", "handler": "load", "schedule": "* * * * *"},
                      {"name": "summarize", "handler": "ok", "schedule": "* * * * *", "after": ["load"]}]}
            """#
        try await withEngine(jobs: jobs, handlers: handlers, clock: clock) { engine, log, _ in
            clock.advance(to: t0)
            try await waitFor("load to start") { await log.started.contains { $0.job == "load" } }
            await engine.untilIdle(busyWorkersToo: true)
            #expect(await log.started.map(\.job) == ["load"])
            // `list` says what it waits for.
            #expect(await engine.heldRuns() == ["summarize": "after load, whose run has not ended"])
            gate.open()
            try await waitFor("summarize to run") { await log.finished.contains { $0.job == "summarize" } }
            let events = await log.events
            let loadEnded = events.firstIndex { if case let .runFinished(run) = $0 { run.job == "load" } else { false } }
            let summarizeStarted = events.firstIndex { if case let .runStarted(run) = $0 { run.job == "summarize" } else { false } }
            #expect(try #require(loadEnded) < (try #require(summarizeStarted)))
        }
    }

    /// A stop or a pause of a service whose start is being written stops it as it begins,
    /// recorded with who asked: it ran on before, stopped in name only.
    @Test(arguments: ["stop", "pause"])
    func aServiceStoppedWhileItsStartIsWrittenStopsAsItBegins(_ verb: String) async throws {
        let (store, writing, asked) = storeHoldingFirstStart(of: "svc")
        let clock = ManualClock(t0)
        try await withEngine(jobs: #"{"jobs": [{"name": "svc", "handler": "serve", "restart": "always"}]}"#, handlers: handlers, clock: clock,
                             store: store) { engine, log, _ in
            defer { writing.open() }
            try await waitFor("the start to be written") { asked.isSet }
            // Starting all the while (it read "stopped" before).
            #expect(await engine.serviceStates()["svc"]?.state == "starting")
            if verb == "stop" {
                try await engine.stopService("svc", by: "uid 1000 (ann)")
            } else {
                try await engine.pauseJob("svc", by: "uid 1000 (ann)")
            }
            #expect(await engine.serviceStates()["svc"]?.state == (verb == "stop" ? "stopping" : "paused"))
            writing.open()
            try await waitFor("the service's run to end") { await log.finished.count == 1 }
            let run = try #require(await log.finished.first)
            #expect(run.status == .cancelled && run.error == "\(verb == "stop" ? "stopped" : "paused") by schedctl", "\(run)")
            #expect(run.cancelledBy == "uid 1000 (ann)")
            // It stays down: nothing restarts it.
            clock.advance(by: 600)
            await engine.untilIdle()
            #expect(await log.started.count == 1)
            #expect(await engine.serviceStates()["svc"]?.state == (verb == "stop" ? "stopped" : "paused"))
        }
    }

    @Test func stopStartAndRestartAService() async throws {
        let clock = ManualClock(t0)
        try await withEngine(jobs: Self.stack, handlers: handlers, clock: clock) { engine, log, _ in
            try await drive(clock, engine: engine, until: "the stack to be up") { await engine.serviceStates()["worker"]?.state == "ready" }
            // Stopping app stops worker first, then app; db goes on.
            try await engine.stopService("app", by: "uid 1000 (ann)")
            try await waitFor("app and worker to stop") { await log.finished.count == 2 }
            #expect(await log.finished.map(\.job) == ["worker", "app"])
            #expect(await log.finished.last?.error == "stopped by schedctl")
            // Who stopped it is the stopped run's, as a cancel's is; worker stopped by itself.
            #expect(await log.finished.map(\.cancelledBy) == [nil, "uid 1000 (ann)"])
            var states = await engine.serviceStates()
            #expect(states["app"]?.state == "stopped")
            #expect(states["worker"]?.state == "waiting")
            #expect(states["db"]?.state == "ready")
            // Nothing restarts a stopped service.
            clock.advance(by: 600)
            await engine.untilIdle()
            #expect(await engine.load().services == 1)

            try await engine.startService("app", by: "uid 1000 (ann)")
            try await drive(clock, engine: engine, until: "app and worker are back") { await engine.serviceStates()["worker"]?.state == "ready" }
            #expect(await log.started.suffix(2).map(\.job) == ["app", "worker"])
            #expect(await log.started.suffix(2).map(\.triggeredBy) == ["uid 1000 (ann)", nil])

            // Restart: one stop, one start; what requires it goes on.
            let before = await log.started.count
            try await engine.restartService("db", by: "uid 1000 (ann)")
            try await waitFor("db to start again") { await log.started.count == before + 1 }
            let last = await log.finished.last
            #expect(last?.job == "db" && last?.status == .cancelled && last?.error == "restarted by schedctl")
            let restarted = await log.started.last
            #expect(restarted?.job == "db" && restarted?.trigger == .manual)
            #expect(restarted?.triggeredBy == "uid 1000 (ann)" && last?.cancelledBy == "uid 1000 (ann)")
            states = await engine.serviceStates()
            #expect(states["app"]?.state == "ready" && states["worker"]?.state == "ready")

            await #expect(throws: APIError.self) { try await engine.stopService("nightly") }
        }
    }

    @Test func onShutdownServicesStopInReverseDependencyOrder() async throws {
        let clock = ManualClock(t0)
        try await withEngine(jobs: Self.stack, handlers: handlers, clock: clock) { engine, log, _ in
            try await drive(clock, engine: engine, until: "the stack to be up") { await engine.serviceStates()["worker"]?.state == "ready" }
            engine.shutdown()
            try await waitFor("every service to stop") { await log.finished.count == 3 }
            #expect(await log.finished.map(\.job) == ["worker", "app", "db"])
            #expect(await log.finished.allSatisfy { $0.error == "schedd is shutting down" })
        }
    }

    /// A service that waits for what it requires starts on the definition it has when it may
    /// start, not the one it had when it began to wait.
    @Test func aWaitingServiceStartsOnItsCurrentDefinition() async throws {
        let clock = ManualClock(t0)
        let seen = Mutex<[String]>([])
        var handlers = handlers
        handlers["versioned"] = { context in
            if case let .string(version)? = context.params?["version"] { seen.withLock { $0.append(version) } }
            try await Gate().wait()
        }
        func file(_ version: Int) -> String {
            #"""
            {"jobs": [{"name": "db", "handler": "serve", "restart": "always", "ready_after": "3s"},
                      {"name": "app", "handler": "versioned", "params": {"version": "\#(version)"}, "restart": "always", "requires": ["db"]}]}
            """#
        }
        try await withEngine(jobs: file(1), handlers: handlers, clock: clock) { engine, log, _ in
            try await waitFor("db to start") { await log.started.count == 1 }
            await engine.untilIdle()
            #expect(await engine.serviceStates()["app"]?.state == "waiting")
            _ = try await engine.apply(jobFile: file(2))
            try await drive(clock, engine: engine, until: "app to start") { seen.withLock { !$0.isEmpty } }
            #expect(seen.withLock { $0 } == ["2"])
        }
    }

    /// A paused service stops after what requires it, as a stopped one does (it was stopped
    /// first, and what required it lost it while still running).
    @Test func aPausedServiceStopsAfterWhatRequiresIt() async throws {
        let clock = ManualClock(t0)
        try await withEngine(jobs: Self.stack, handlers: handlers, clock: clock) { engine, log, _ in
            try await drive(clock, engine: engine, until: "the stack to be up") { await engine.serviceStates()["worker"]?.state == "ready" }
            try await engine.pauseJob("app", by: "uid 0 (root)")
            try await waitFor("app and worker to stop") { await log.finished.count == 2 }
            #expect(await log.finished.map(\.job) == ["worker", "app"])
            #expect(await log.finished.last?.error == "paused by schedctl")
            #expect(await log.finished.last?.cancelledBy == "uid 0 (root)")
            #expect(await engine.serviceStates()["worker"]?.state == "waiting")
            // Its resume starts it, by whoever resumed it (as `start` records).
            try await engine.resume("app", by: "uid 1000 (ann)")
            try await drive(clock, engine: engine, until: "app and worker are back") { await engine.serviceStates()["worker"]?.state == "ready" }
            #expect(await log.started.suffix(2).map(\.job) == ["app", "worker"])
            #expect(await log.started.suffix(2).map(\.triggeredBy) == ["uid 1000 (ann)", nil])
        }
    }

    @Test func aServiceNotReadyWithinItsTimeoutIsAFailedStart() async throws {
        let clock = ManualClock(t0)
        let jobs = #"""
            {"jobs": [{"name": "db", "handler": "serve", "restart": "on-failure", "ready_check": "exit 1",
                       "ready_interval": "1s", "ready_timeout": "3s", "restart_limit": {"burst": 1, "interval": "1h"}}]}
            """#
        // An hour's window: before `drive` waited for the engine between steps, under load it
        // moved the clock past a minute before the failed start was counted (the start then
        // fell out of the window, a restart was due, and the clock no longer moved).
        try await withEngine(jobs: jobs, handlers: handlers, clock: clock, commandExecutor: ExitingExecutor(code: 1)) { engine, log, _ in
            try await drive(clock, engine: engine, until: "db fails") { await log.finished.count == 1 }
            let run = await log.finished[0]
            #expect(run.status == .failed)
            #expect(run.error?.hasPrefix("not ready within 3s (ready_timeout): the ready_check did not pass") == true, "\(run.error ?? "")")
            try await waitFor("its restart limit") { await engine.serviceStates()["db"]?.state == "failed" }
        }
    }

    @Test func aPassingReadyCheckMakesTheServiceReady() async throws {
        let clock = ManualClock(t0)
        let jobs = #"{"jobs": [{"name": "db", "handler": "serve", "restart": "always", "ready_check": "true"}]}"#
        try await withEngine(jobs: jobs, handlers: handlers, clock: clock, commandExecutor: ExitingExecutor(code: 0)) { engine, _, _ in
            try await waitFor("db to be ready") { await engine.serviceStates()["db"]?.state == "ready" }
        }
    }

    /// A service is one process: `schedctl run` of it while it runs, even with `--force`, is a
    /// skip that says so; a second process would share its readiness and what requires it.
    @Test func aRunningServiceIsNotStartedTwiceEvenWhenForced() async throws {
        let clock = ManualClock(t0)
        let jobs = #"{"jobs": [{"name": "svc", "handler": "serve", "restart": "always"}]}"#
        try await withEngine(jobs: jobs, handlers: handlers, clock: clock) { engine, log, _ in
            try await waitFor("svc to start") { await log.started.count == 1 }
            for force in [false, true] {
                let outcome = try await engine.runNow("svc", force: force)
                guard case let .skipped(skip) = outcome else {
                    Issue.record("a run of the running service was \(outcome) (force: \(force))")
                    continue
                }
                #expect(skip.error?.contains("svc is a service and it is running as run \(await log.started[0].id)") == true, "\(skip.error ?? "")")
            }
            await engine.untilIdle()
            #expect(await log.started.count == 1)
        }
    }

    /// Started by hand while it waits for its restart delay, a service is not started a
    /// second time when the delay ends.
    @Test func aServiceStartedDuringItsRestartDelayIsNotStartedAgainByIt() async throws {
        let clock = ManualClock(t0)
        let calls = RunCounter()
        let handlers: [String: JobHandler] = [
            // Crashes once, then serves.
            "flaky": { _ in if calls.next() == 1 { throw TestError() } else { try await Gate().wait() } },
        ]
        let jobs = #"{"jobs": [{"name": "svc", "handler": "flaky", "restart": "always", "restart_delay": "10s"}]}"#
        try await withEngine(jobs: jobs, handlers: handlers, clock: clock) { engine, log, _ in
            try await waitFor("svc to crash") { await log.finished.count == 1 }
            await engine.untilIdle()
            #expect(try await engine.runNow("svc") == .queued)
            try await waitFor("svc to start by hand") { await log.started.count == 2 }
            clock.advance(by: 11)
            await engine.untilIdle()
            #expect(await log.started.map(\.trigger) == [.boot, .manual], "the restart delay's end started it again")
        }
    }

    /// A running service whose process a new definition changes is restarted on it; one whose
    /// supervision only changes (restart rules, description) goes on; one disabled is
    /// stopped, and started again once enabled.
    /// A service redefined, disabled or removed while its start row is being written is
    /// stopped as it begins (and started again on its new definition): it started on the old
    /// one and went on, a removed one supervised by no one.
    @Test(arguments: ["redefined", "disabled", "removed"])
    func aServiceChangedWhileItsStartIsWrittenFollowsTheChange(_ change: String) async throws {
        let (store, writing, asked) = storeHoldingFirstStart(of: "svc")
        let seen = Mutex<[String]>([])
        let handlers: [String: JobHandler] = [
            "serve": { context in
                if case let .string(version)? = context.params?["version"] { seen.withLock { $0.append(version) } }
                try await Gate().wait()
            },
            "ok": { _ in },
        ]
        func file(_ fields: String) -> String {
            #"{"jobs": [{"name": "svc", "handler": "serve", "restart": "always", \#(fields)}, {"name": "other", "handler": "ok"}]}"#
        }
        let clock = ManualClock(t0)
        try await withEngine(jobs: file(#""params": {"version": "1"}"#), handlers: handlers, clock: clock, store: store) { engine, log, _ in
            defer { writing.open() }
            try await waitFor("the start to be written") { asked.isSet }
            switch change {
            case "redefined": _ = try await engine.apply(jobFile: file(#""params": {"version": "2"}"#))
            case "disabled": _ = try await engine.apply(jobFile: file(#""params": {"version": "1"}, "enabled": false"#))
            default: _ = try await engine.apply(jobFile: #"{"jobs": [{"name": "other", "handler": "ok"}]}"#, prune: true)
            }
            writing.open()
            try await waitFor("the first run to end") { await log.finished.contains { $0.job == "svc" } }
            let first = try #require(await log.finished.first { $0.job == "svc" })
            let why = ["redefined": "restarted: its definition changed", "disabled": "stopped: the service was disabled (\"enabled\": false)",
                       "removed": "stopped: the service was removed"][change]
            #expect(first.status == .cancelled && first.error == why, "\(first)")
            if change == "redefined" {
                try await waitFor("svc to start on its new definition") { seen.withLock { $0.last } == "2" }
                #expect(await log.started.filter { $0.job == "svc" }.map(\.trigger) == [.boot, .restart])
            } else {
                clock.advance(by: 600)
                await engine.untilIdle()
                #expect(await log.started.filter { $0.job == "svc" }.count == 1)
            }
        }
    }

    @Test func aRedefinedServiceIsRestartedOnItsNewDefinition() async throws {
        let clock = ManualClock(t0)
        let seen = Mutex<[String]>([])
        let handlers: [String: JobHandler] = [
            "serve": { context in
                if case let .string(version)? = context.params?["version"] { seen.withLock { $0.append(version) } }
                try await Gate().wait()
            },
        ]
        func file(_ fields: String) -> String {
            #"{"jobs": [{"name": "svc", "handler": "serve", "restart": "always", \#(fields)}]}"#
        }
        try await withEngine(jobs: file(#""params": {"version": "1"}"#), handlers: handlers, clock: clock) { engine, log, _ in
            try await waitFor("svc to start") { seen.withLock { $0.count } == 1 }
            _ = try await engine.apply(jobFile: file(#""params": {"version": "2"}"#))
            // The handler's word, not the start's: the start is published before it runs.
            try await waitFor("svc to start on its new definition") { seen.withLock { $0.count } == 2 }
            await engine.untilIdle()
            #expect(seen.withLock { $0 } == ["1", "2"])
            #expect(await log.finished.first?.status == .cancelled)
            #expect(await log.finished.first?.error?.contains("its definition changed") == true)
            // Started again by schedd, not by someone's hand.
            #expect(await log.started.map(\.trigger) == [.boot, .restart])

            _ = try await engine.apply(jobFile: file(#""params": {"version": "2"}, "description": "the same process", "restart_delay": "5s""#))
            await engine.untilIdle()
            #expect(await log.started.count == 2, "a change of its supervision restarted it")

            _ = try await engine.apply(jobFile: file(#""params": {"version": "2"}, "enabled": false"#))
            try await waitFor("svc to stop") { await log.finished.count == 2 }
            clock.advance(by: 60)
            await engine.untilIdle()
            #expect(await log.started.count == 2, "a disabled service was started again")
            #expect(await engine.serviceStates()["svc"]?.state != "ready")

            _ = try await engine.apply(jobFile: file(#""params": {"version": "3"}"#))
            try await waitFor("svc to start once enabled") { seen.withLock { $0.count } == 3 }
            #expect(seen.withLock { $0 } == ["1", "2", "3"])
        }
    }

    /// A job that becomes a service is started; a service that stops being one is stopped
    /// and not restarted.
    @Test func aJobTurnedIntoAServiceStartsAndBackStops() async throws {
        let clock = ManualClock(t0)
        try await withEngine(jobs: #"{"jobs": [{"name": "j", "handler": "serve"}]}"#, handlers: handlers, clock: clock) { engine, log, _ in
            _ = try await engine.apply(jobFile: #"{"jobs": [{"name": "j", "handler": "serve", "restart": "always"}]}"#)
            try await waitFor("j to start as a service") { await log.started.count == 1 }
            _ = try await engine.apply(jobFile: #"{"jobs": [{"name": "j", "handler": "serve"}]}"#)
            try await waitFor("j to stop") { await log.finished.count == 1 }
            clock.advance(by: 60)
            await engine.untilIdle()
            #expect(await log.started.count == 1, "no longer a service, it was restarted")
        }
    }

    /// A job that becomes a service while a run of it goes on starts as a service when that
    /// run ends (it waited for a restart of the daemon).
    @Test func aJobThatBecomesAServiceWhileItRunsStartsWhenTheRunEnds() async throws {
        let clock = ManualClock(t0)
        let gate = Gate()
        var handlers = handlers
        handlers["held"] = { _ in try await gate.wait() }
        try await withEngine(jobs: #"{"jobs": [{"name": "j", "handler": "held"}]}"#, handlers: handlers, clock: clock) { engine, log, _ in
            _ = try await engine.runNow("j")
            try await waitFor("j to start") { await log.started.count == 1 }
            _ = try await engine.apply(jobFile: #"{"jobs": [{"name": "j", "handler": "serve", "restart": "always"}]}"#)
            await engine.untilIdle(busyWorkersToo: true)
            #expect(await log.started.count == 1, "started as a service beside its running run")
            gate.open()
            try await waitFor("j to start as a service") { await log.started.count == 2 }
            #expect(await log.started.last?.trigger == .boot)
        }
    }

    /// A job that becomes a service while its retry waits for its time is started once, as a
    /// service: the retry does not start a second process of it when it comes due.
    @Test func aRetryOfAJobThatBecameAServiceIsDropped() async throws {
        let clock = ManualClock(t0)
        try await withEngine(jobs: #"{"jobs": [{"name": "j", "handler": "crash", "retries": 1, "retry_backoff": "10s"}]}"#,
                             handlers: handlers, clock: clock) { engine, log, store in
            _ = try await engine.runNow("j")
            try await waitFor("j to fail") { await log.finished.count == 1 }
            await engine.untilIdle()
            #expect(await engine.pendingRetry("j") != nil)
            _ = try await engine.apply(jobFile: #"{"jobs": [{"name": "j", "handler": "serve", "restart": "always"}]}"#)
            try await waitFor("j to start as a service") { await log.started.count == 2 }
            clock.advance(by: 30)
            await engine.untilIdle()
            #expect(await log.started.map(\.trigger) == [.manual, .boot], "the retry started a second process of the service")
            #expect(try await store.pendingRetries().isEmpty)
        }
    }

    /// A retry skipped because what it requires is down is recorded as that attempt (its row
    /// says `retry`, attempt 2), and it is over: the next start does not take it up again.
    @Test func aSkippedRetryIsItsAttemptAndIsNotTakenUpAgain() async throws {
        let store = MemoryStore()
        let clock = ManualClock(t0)
        let jobs = #"""
            {"jobs": [{"name": "db", "handler": "serve", "restart": "always"},
                      {"name": "j", "handler": "crash", "retries": 2, "retry_backoff": "10s", "requires": ["db"]}]}
            """#
        try await withEngine(jobs: jobs, handlers: handlers, clock: clock, store: store) { engine, log, _ in
            try await drive(clock, engine: engine, until: "db to be ready") { await engine.serviceStates()["db"]?.state == "ready" }
            _ = try await engine.runNow("j")
            try await waitFor("j to fail") { await log.finished.contains { $0.job == "j" } }
            await engine.untilIdle()
            #expect(await engine.pendingRetry("j")?.attempt == 2)
            try await engine.stopService("db")
            try await waitFor("db to stop") { await log.finished.contains { $0.job == "db" } }
            clock.advance(by: 30)
            try await waitFor("the retry to be skipped") { await log.finished.filter { $0.job == "j" }.count == 2 }
            await engine.untilIdle()
            let skipped = try #require(await log.finished.last { $0.job == "j" })
            #expect(skipped.status == .skipped && skipped.trigger == .retry && skipped.attempt == 2, "\(skipped)")
            #expect(skipped.error == "skipped: requires db, which is stopped (by schedctl)", "\(skipped.error ?? "")")
            #expect(await engine.pendingRetry("j") == nil)
            #expect(try await store.pendingRetries().isEmpty)
        }
        try await withEngine(jobs: jobs, handlers: handlers, clock: clock, store: store) { engine, log, _ in
            try await drive(clock, engine: engine, until: "db to be ready again") { await engine.serviceStates()["db"]?.state == "ready" }
            clock.advance(by: 60)
            await engine.untilIdle(busyWorkersToo: true)
            let again = await log.finished.filter { $0.job == "j" } + log.started.filter { $0.job == "j" }
            #expect(again.isEmpty, "a retry already skipped was taken up again: \(again)")
        }
    }

    /// A removed service is stopped (a scheduled job's run goes on to its end): it would run
    /// for ever, supervised by no one and listed nowhere.
    @Test func aRemovedServiceIsStopped() async throws {
        let clock = ManualClock(t0)
        let gate = Gate()
        var handlers = handlers
        handlers["held"] = { _ in try await gate.wait() }
        let jobs = #"{"jobs": [{"name": "svc", "handler": "serve", "restart": "always"}, {"name": "j", "handler": "held"}]}"#
        try await withEngine(jobs: jobs, handlers: handlers, clock: clock) { engine, log, _ in
            try await waitFor("svc to start") { await log.started.count == 1 }
            _ = try await engine.runNow("j")
            try await waitFor("j to start") { await log.started.count == 2 }
            _ = try await engine.apply(jobFile: #"{"jobs": []}"#, prune: true)
            try await waitFor("svc to stop") { await log.finished.count == 1 }
            let stopped = try #require(await log.finished.first)
            #expect(stopped.job == "svc" && stopped.status == .cancelled)
            #expect(stopped.error?.contains("the service was removed") == true, "\(stopped.error ?? "")")
            gate.open()
            try await waitFor("j to end") { await log.finished.count == 2 }
            #expect(await log.finished.last?.status == .succeeded, "the removed job's run was stopped too")
            clock.advance(by: 60)
            await engine.untilIdle()
            #expect(await log.started.count == 2, "the removed service was started again")
        }
    }

    /// A service's `on_failure` is its final failure: the restart limit reached, not each
    /// crash it is restarted from (as systemd's OnFailure=).
    @Test func aServicesOnFailureIsTriggeredWhenItReachesItsRestartLimit() async throws {
        let clock = ManualClock(t0)
        let jobs = #"""
            {"jobs": [{"name": "svc", "handler": "crash", "restart": "always", "restart_delay": "1s",
                       "restart_limit": {"burst": 3, "interval": "1m"}, "on_failure": "alert"},
                      {"name": "alert", "handler": "ok"}]}
            """#
        try await withEngine(jobs: jobs, handlers: handlers, clock: clock) { engine, log, _ in
            try await drive(clock, engine: engine, until: "svc to fail by its restart limit") {
                await engine.serviceStates()["svc"]?.state == "failed"
            }
            try await waitFor("alert to run") { await log.finished.contains { $0.job == "alert" } }
            await engine.untilIdle()
            let runs = await log.finished
            #expect(runs.map(\.job) == ["svc", "svc", "svc", "alert"])
            let alert = try #require(runs.last)
            #expect(alert.trigger == .dependency)
            #expect(alert.triggeredByRun == runs[2].id)
        }
    }

    /// A service that exits 0 and is not restarted by its rule (`on-failure`) has ended as a
    /// success: its `on_success` runs. One restarted (`always`) has not.
    @Test func aServicesOnSuccessIsTriggeredWhenItEndsForGood() async throws {
        let clock = ManualClock(t0)
        let jobs = #"""
            {"jobs": [{"name": "once", "handler": "ok", "restart": "on-failure", "on_success": "next"},
                      {"name": "loop", "handler": "ok", "restart": "always", "restart_limit": "none", "restart_delay": "1s", "on_success": "next"},
                      {"name": "next", "handler": "ok", "concurrency": "allow"}]}
            """#
        try await withEngine(jobs: jobs, handlers: handlers, clock: clock) { engine, log, _ in
            try await waitFor("next to run") { await log.finished.contains { $0.job == "next" } }
            try await drive(clock, engine: engine, until: "loop to run five times") {
                await log.finished.filter { $0.job == "loop" }.count >= 5
            }
            let runs = await log.finished
            let once = try #require(runs.first { $0.job == "once" })
            #expect(runs.filter { $0.job == "next" }.map(\.triggeredByRun) == [once.id])
        }
    }
}

/// A command executor whose every process exits at once with `code` (the ready checks).
struct ExitingExecutor: JobExecutor {
    let code: Int32
    func execute(_ request: ExecutionRequest) async throws -> ExecutionOutcome {
        ExecutionOutcome(ending: .exited(code))
    }
}

/// Counts calls across tasks.
final class RunCounter: Sendable {
    private let value = Mutex(0)
    @discardableResult
    func next() -> Int { value.withLock { $0 += 1; return $0 } }
    var count: Int { value.withLock { $0 } }
}

import Synchronization
