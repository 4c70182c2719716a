import Foundation
import Testing
@testable import Scheduler
import Logging
import PostgresHarness
import SchedulerPostgres
import SchedulerAPI

/// What the engine relies on from a store (`SchedulerStore`), checked for each store: the
/// SQLite one the daemon uses and the in-memory one the engine's tests use.
@Suite(.postgres, .timeLimit(.minutes(2))) struct StoreContractTests {
    enum Kind: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case sqlite, memory, postgres
        var testDescription: String { rawValue }

        /// Every store that can be tested here: PostgreSQL only where a server can be started
        /// (`PostgresStoreTests` says so when it cannot).
        static var testable: [Kind] { PostgresServer.unavailableReason == nil ? allCases : [.sqlite, .memory] }
    }

    /// A store, and the temporary database behind it (kept until the test is done).
    struct Subject {
        let store: any SchedulerStore
        let temp: TemporaryDatabase?

        /// Runs `body` with a new, empty store of `kind`.
        static func with(_ kind: Kind, _ body: (Subject) async throws -> Void) async throws {
            switch kind {
            case .sqlite:
                let temp = try TemporaryDatabase()
                try await body(Subject(store: temp.database, temp: temp))
            case .memory:
                try await body(Subject(store: MemoryStore(), temp: nil))
            case .postgres:
                let server = try #require(PostgresServer.current, "the suite's PostgreSQL server")
                let url = try PostgresURL(try await server.newDatabase())
                try await PostgresStore.withStore(url: url, node: "n1", options: PostgresStoreTests.roomy, logger: Logger(label: "test")) { store in
                    try await body(Subject(store: store, temp: nil))
                }
            }
        }

        /// A run started now, which the store must not refuse.
        func start(_ job: String, at date: Date, trigger: RunTrigger = .manual, scheduledAt: Date? = nil, fire: StoreWrite? = nil,
                   retrying failed: RunRecord? = nil) async throws -> RunRecord {
            var start = RunStart(job: job, trigger: trigger, attempt: failed.map { $0.attempt + 1 } ?? 1, scheduledAt: scheduledAt, startedAt: date, fire: fire)
            start.retryOf = failed?.id
            switch try await store.startRun(start) {
            case let .started(run): return run
            case let .refused(reason): throw APIError(.internal, "refused: \(reason)")
            case let .heldElsewhere(node): throw APIError(.internal, "refused: held by node \(node)")
            case let .jobBusyElsewhere(runID, node): throw APIError(.internal, "refused: run \(runID) of the job on \(node ?? "any node")")
            }
        }

        func apply(_ text: String, prune: Bool = false, source: Data? = nil, origin: JobOrigin = .api(),
                   protectedFile: String? = nil) async throws -> ApplyResult {
            let names = try await store.jobNames()
            return try await store.applyJobs(try jobFile(text, existing: names), prune: prune, dryRun: false, now: t0, source: source,
                                             origin: origin, protectedFile: protectedFile)
        }
    }

    static let jobs = #"""
        {"jobs": [
          {"name": "backup", "shell": "backup.sh", "schedule": "0 3 * * *", "on_failure": "notify"},
          {"name": "notify", "shell": "notify.sh"},
          {"name": "ping", "shell": "ping", "schedule": "@every 30s"}]}
        """#

    /// Output with what a store's encoding must carry through: quotes, backslashes, control
    /// characters, non-ASCII text.
    static let output = "boom \"quoted\" \\ / \u{1B}[31m é ✓ 🙂\r\n\tend\n"

    @Test(arguments: Kind.testable)
    func aRunGoesFromRunningToItsFinalStatusOnce(_ kind: Kind) async throws {
        try await Subject.with(kind) { subject in
            let store = subject.store
            _ = try await subject.apply(Self.jobs)
            let run = try await subject.start("ping", at: t0, trigger: .schedule, scheduledAt: t0)
            #expect(run.status == .running && run.id > 0)
            #expect(try await store.job(named: "ping")?.state.lastRunID == run.id)
            try await store.setPID(run.id, pid: 4242)
            var known = run
            known.pid = 4242
            let finished = try await store.finishRun(known, RunOutcome(status: .failed, finishedAt: t0.addingTimeInterval(1.5), exitCode: 3,
                                                                        output: Self.output, outputTruncated: true, error: "exit status 3", cpuMs: 7))
            #expect(finished?.status == .failed && finished?.durationMs == 1500 && finished?.exitCode == 3 && finished?.pid == 4242)
            #expect(finished?.cpuMs == 7)
            // What the store returned is what it wrote.
            #expect(try await store.run(id: run.id) == finished)
            #expect(finished?.output == Self.output && finished?.outputTruncated == true)
            // Never finished twice.
            #expect(try await store.finishRun(run, RunOutcome(status: .succeeded, finishedAt: t0)) == nil)
            #expect(try await store.run(id: run.id)?.status == .failed)
            // Listings go without the output.
            let byID = try await store.runs(ids: [run.id, 999])
            #expect(byID.keys.sorted() == [run.id] && byID[run.id]?.output == nil && byID[run.id]?.status == .failed)
        }
    }

    /// A retry waiting for its time is kept with the run it retries, and read back until the
    /// retry starts (a `retry` run of the next attempt) or its mark is cleared; pruning keeps
    /// the run meanwhile.
    @Test(arguments: Kind.testable)
    func aPendingRetryIsKeptUntilItStarts(_ kind: Kind) async throws {
        try await Subject.with(kind) { subject in
            let store = subject.store
            _ = try await subject.apply(Self.jobs)
            let ping = try await subject.start("ping", at: t0, trigger: .schedule, scheduledAt: t0)
            _ = try await store.finishRun(ping, RunOutcome(status: .failed, finishedAt: t0, exitCode: 1))
            let backup = try await subject.start("backup", at: t0)
            _ = try await store.finishRun(backup, RunOutcome(status: .timedOut, finishedAt: t0))
            #expect(try await store.pendingRetries().isEmpty)
            let due = t0.addingTimeInterval(90)
            try await store.setRetries([(ping.id, due), (backup.id, due.addingTimeInterval(1))])
            let pending = try await store.pendingRetries()
            #expect(pending.map(\.run.id) == [ping.id, backup.id])
            #expect(pending.map(\.due) == [due, due.addingTimeInterval(1)])
            #expect(pending.first?.run.status == .failed && pending.first?.run.scheduledAt == t0 && pending.first?.run.attempt == 1)
            // Pruning everything finished keeps the runs whose retry waits.
            _ = try await store.pruneHistory(keepPerJob: 0, olderThan: t0.addingTimeInterval(3600))
            #expect(try await store.run(id: ping.id) != nil)
            #expect(try await store.run(id: backup.id) != nil)
            // `ping`'s retry has its row (its mark is not cleared yet: schedd died in between);
            // `backup`'s mark is cleared.
            _ = try await subject.start("ping", at: due, trigger: .retry, scheduledAt: t0, retrying: ping)
            #expect(try await store.pendingRetries().map(\.run.id) == [backup.id])
            try await store.setRetries([(backup.id, nil)])
            #expect(try await store.pendingRetries().isEmpty)
            // `ping`'s mark, left standing, no longer keeps it from pruning.
            _ = try await store.pruneHistory(keepPerJob: nil, olderThan: t0.addingTimeInterval(3600))
            #expect(try await store.run(id: ping.id) == nil)
            #expect(try await store.run(id: backup.id) == nil)
        }
    }

    /// A run's end carries its retry's mark (`RunOutcome.retryAt`), written in the same write:
    /// pending as a mark set apart is; an end without one marks nothing.
    @Test(arguments: Kind.testable)
    func aRunsEndCarriesItsRetrysMark(_ kind: Kind) async throws {
        try await Subject.with(kind) { subject in
            let store = subject.store
            _ = try await subject.apply(Self.jobs)
            let ping = try await subject.start("ping", at: t0, trigger: .schedule, scheduledAt: t0)
            var outcome = RunOutcome(status: .failed, finishedAt: t0, exitCode: 1)
            outcome.retryAt = t0.addingTimeInterval(90)
            #expect(try await store.finishRun(ping, outcome)?.status == .failed)
            let backup = try await subject.start("backup", at: t0)
            _ = try await store.finishRun(backup, RunOutcome(status: .failed, finishedAt: t0))
            let pending = try await store.pendingRetries()
            #expect(pending.map(\.run.id) == [ping.id])
            #expect(pending.map(\.due) == [t0.addingTimeInterval(90)])
        }
    }

    /// A run's end carries the mark of a final result left for the next start
    /// (`RunOutcome.leavesFinalResult`), written in the same write; an end without one marks
    /// nothing.
    @Test(arguments: Kind.testable)
    func aRunsEndCarriesTheMarkOfItsFinalResult(_ kind: Kind) async throws {
        try await Subject.with(kind) { subject in
            let store = subject.store
            _ = try await subject.apply(Self.jobs)
            let ping = try await subject.start("ping", at: t0)
            var outcome = RunOutcome(status: .failed, finishedAt: t0, exitCode: 1)
            outcome.leavesFinalResult = true
            #expect(try await store.finishRun(ping, outcome)?.status == .failed)
            let backup = try await subject.start("backup", at: t0)
            _ = try await store.finishRun(backup, RunOutcome(status: .failed, finishedAt: t0))
            #expect(try await store.pendingPolicies().map(\.id) == [ping.id])
            try await store.setPoliciesPending([ping.id], false)
            #expect(try await store.pendingPolicies().isEmpty)
        }
    }

    /// A retry of a slot that is skipped is recorded as its attempt, beside the slot's failed
    /// first attempt (a shared store records no skip of a slot that has a row: the attempt
    /// tells them apart), and its row ends the retry's wait.
    @Test(arguments: Kind.testable)
    func aSkippedRetryOfASlotIsRecordedAndEndsItsWait(_ kind: Kind) async throws {
        try await Subject.with(kind) { subject in
            let store = subject.store
            _ = try await subject.apply(Self.jobs)
            let ping = try await subject.start("ping", at: t0, trigger: .schedule, scheduledAt: t0)
            _ = try await store.finishRun(ping, RunOutcome(status: .failed, finishedAt: t0, exitCode: 1))
            try await store.setRetries([(ping.id, t0.addingTimeInterval(10))])
            var skip = RunSkip(job: "ping", trigger: .retry, scheduledAt: t0, at: t0.addingTimeInterval(10), reason: "skipped: requires db")
            skip.attempt = 2
            skip.retryOf = ping.id
            let recorded = try await store.recordSkipped([skip])
            #expect(recorded.map(\.attempt) == [2] && recorded.first?.trigger == .retry && recorded.first?.status == .skipped, "\(recorded)")
            #expect(try await store.pendingRetries().isEmpty)
        }
    }

    /// Two failed runs of a job wait for their retries: the start of one's retry ends that
    /// one's wait alone (it ended both, and the other's retry was lost at the next start of
    /// schedd), and names the attempt it follows.
    @Test(arguments: Kind.testable)
    func aRetrysStartEndsItsOwnWaitOnly(_ kind: Kind) async throws {
        try await Subject.with(kind) { subject in
            let store = subject.store
            _ = try await subject.apply(Self.jobs)
            let first = try await subject.start("ping", at: t0)
            let second = try await subject.start("ping", at: t0.addingTimeInterval(1))
            for run in [first, second] {
                _ = try await store.finishRun(run, RunOutcome(status: .failed, finishedAt: run.startedAt, exitCode: 1))
            }
            try await store.setRetries([(first.id, t0.addingTimeInterval(60)), (second.id, t0.addingTimeInterval(120))])
            #expect(try await store.pendingRetries().map(\.run.id) == [first.id, second.id])
            let retry = try await subject.start("ping", at: t0.addingTimeInterval(60), trigger: .retry, retrying: first)
            #expect(retry.retryOf == first.id && retry.attempt == 2)
            #expect(try await store.run(id: retry.id)?.retryOf == first.id)
            // Before its mark is cleared (a crash in between), and after.
            #expect(try await store.pendingRetries().map(\.run.id) == [second.id])
            try await store.setRetries([(first.id, nil)])
            #expect(try await store.pendingRetries().map(\.run.id) == [second.id])
            // Pruning keeps the run whose retry waits.
            _ = try await store.finishRun(retry, RunOutcome(status: .succeeded, finishedAt: t0.addingTimeInterval(61)))
            _ = try await store.pruneHistory(keepPerJob: 0, olderThan: nil)
            #expect(try await store.pendingRetries().map(\.run.id) == [second.id])
        }
    }

    /// A run's output may hold NUL characters (a process wrote them) or be empty: the end is
    /// written either way, NUL kept as U+FFFD (neither store's text holds it as read back),
    /// and what the store returns is what it wrote.
    @Test(arguments: Kind.testable)
    func anOutputWithNULOrNothingIsWritten(_ kind: Kind) async throws {
        try await Subject.with(kind) { subject in
            let store = subject.store
            _ = try await subject.apply(Self.jobs)
            let first = try await subject.start("ping", at: t0, trigger: .schedule, scheduledAt: t0)
            let second = try await subject.start("ping", at: t0, trigger: .schedule, scheduledAt: t0.addingTimeInterval(30))
            let nul = try #require(try await store.finishRun(first, RunOutcome(status: .succeeded, finishedAt: t0, output: "a\u{0}b")))
            #expect(nul.output == "a\u{FFFD}b")
            #expect(try await store.run(id: first.id) == nul)
            let empty = try #require(try await store.finishRun(second, RunOutcome(status: .succeeded, finishedAt: t0, output: "")))
            #expect(empty.output == "")
            #expect(try await store.run(id: second.id) == empty)
        }
    }

    /// A run's duration is its end minus its start, unless the engine measured it (the wall
    /// clock was stepped while it ran): then the measured one is written and read back.
    @Test(arguments: Kind.testable)
    func aMeasuredDurationIsWritten(_ kind: Kind) async throws {
        try await Subject.with(kind) { subject in
            let store = subject.store
            _ = try await subject.apply(Self.jobs)
            let plain = try await subject.start("ping", at: t0, trigger: .schedule, scheduledAt: t0)
            let stepped = try await subject.start("ping", at: t0, trigger: .schedule, scheduledAt: t0.addingTimeInterval(30))
            let first = try #require(try await store.finishRun(plain, RunOutcome(status: .succeeded, finishedAt: t0.addingTimeInterval(2.5))))
            #expect(first.durationMs == 2_500)
            var outcome = RunOutcome(status: .succeeded, finishedAt: t0.addingTimeInterval(3605))
            outcome.durationMs = 5_000
            let second = try #require(try await store.finishRun(stepped, outcome))
            #expect(second.durationMs == 5_000)
            #expect(try await store.run(id: plain.id)?.durationMs == 2_500)
            #expect(try await store.run(id: stepped.id)?.durationMs == 5_000)
        }
    }

    @Test(arguments: Kind.testable)
    func historyIsNewestFirstAndFiltered(_ kind: Kind) async throws {
        try await Subject.with(kind) { subject in
            let store = subject.store
            _ = try await subject.apply(Self.jobs)
            var ids: [Int64] = []
            for (i, job) in ["ping", "backup", "ping", "ping"].enumerated() {
                let run = try await subject.start(job, at: t0.addingTimeInterval(Double(i)))
                ids.append(run.id)
                if i < 3 { _ = try await store.finishRun(run, RunOutcome(status: .succeeded, finishedAt: t0.addingTimeInterval(Double(i)), output: "x")) }
            }
            #expect(try await store.history(HistoryQuery(), withOutput: true).map(\.id) == ids.reversed())
            #expect(try await store.history(HistoryQuery(job: "ping"), withOutput: true).map(\.id) == [ids[3], ids[2], ids[0]])
            #expect(try await store.history(HistoryQuery(status: .running), withOutput: true).map(\.id) == [ids[3]])
            #expect(try await store.history(HistoryQuery(since: t0.addingTimeInterval(2)), withOutput: true).map(\.id) == [ids[3], ids[2]])
            #expect(try await store.history(HistoryQuery(beforeID: ids[2], limit: 1), withOutput: true).map(\.id) == [ids[1]])
            #expect(try await store.history(HistoryQuery(job: "ping", limit: 10), withOutput: false).allSatisfy { $0.output == nil })
            #expect(try await store.history(HistoryQuery(job: "ping", limit: 10), withOutput: true).filter { $0.output == "x" }.count == 2)
        }
    }

    /// A user's history is their jobs' runs only, whatever other names sort next to theirs.
    @Test(arguments: Kind.testable)
    func historyOfOneOwner(_ kind: Kind) async throws {
        try await Subject.with(kind) { subject in
            var ids: [String: Int64] = [:]
            for (i, job) in ["alice/x", "alice.y", "alice0", "alicia/z", "alice/w", "ping", "bob/alice"].enumerated() {
                ids[job] = try await subject.start(job, at: t0.addingTimeInterval(Double(i))).id
            }
            var query = HistoryQuery()
            query.owner = "alice"
            #expect(try await subject.store.history(query, withOutput: false).map(\.id) == [ids["alice/w"], ids["alice/x"]])
            query.job = "alice/x"
            #expect(try await subject.store.history(query, withOutput: false).map(\.id) == [ids["alice/x"]])
        }
    }

    /// A fire that the store was only asked to queue is durable once the start of its run
    /// returns: a crash after a run started never fires its slot again.
    @Test(arguments: Kind.testable)
    func aFireIsDurableNoLaterThanItsRunsStart(_ kind: Kind) async throws {
        try await Subject.with(kind) { subject in
            let store = subject.store
            _ = try await subject.apply(Self.jobs)
            for round in 0..<20 {
                let slot = t0.addingTimeInterval(Double(round) * 30)
                let fire = store.recordFires([("ping", JobState(lastFireAt: slot))])
                _ = try await subject.start("ping", at: slot, trigger: .schedule, scheduledAt: slot, fire: fire)
                #expect(try await store.job(named: "ping")?.state.lastFireAt == slot)
            }
            #expect(store.recordFires([]) == nil)
        }
    }

    /// A run's end and a skip are written whatever happens to the task that writes them: the
    /// engine records its runs' ends on its way out of a shutdown that was cancelled.
    @Test(arguments: Kind.testable)
    func endsAreWrittenInACancelledTask(_ kind: Kind) async throws {
        try await Subject.with(kind) { subject in
            let store = subject.store
            _ = try await subject.apply(Self.jobs)
            let run = try await subject.start("ping", at: t0)
            let skip = RunSkip(job: "backup", trigger: .schedule, scheduledAt: t0, at: t0, reason: "skipped: busy")
            let writer = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                let finished = try await store.finishRun(run, RunOutcome(status: .cancelled, finishedAt: t0.addingTimeInterval(1)))
                return (finished, try await store.recordSkipped([skip]))
            }
            let (finished, skipped) = try await writer.value
            #expect(finished?.status == .cancelled && skipped.map(\.status) == [.skipped])
            #expect(try await store.run(id: run.id)?.status == .cancelled)
        }
    }

    @Test(arguments: Kind.testable)
    func skipsAreFinalAtOnceAndLeftoversBecomeInterrupted(_ kind: Kind) async throws {
        try await Subject.with(kind) { subject in
            let store = subject.store
            _ = try await subject.apply(Self.jobs)
            let skips = try await store.recordSkipped([
                RunSkip(job: "ping", trigger: .schedule, scheduledAt: t0, at: t0, reason: "skipped: busy"),
                RunSkip(job: "backup", trigger: .schedule, scheduledAt: t0, at: t0, reason: "skipped: busy"),
            ])
            #expect(skips.map(\.status) == [.skipped, .skipped] && skips.allSatisfy { $0.durationMs == 0 && $0.error == "skipped: busy" })
            #expect(try await store.job(named: "backup")?.state.lastRunID == skips[1].id)
            let left = try await subject.start("notify", at: t0)
            try await store.setPID(left.id, pid: 99)
            let leftovers = try await store.interruptLeftovers(at: t0.addingTimeInterval(10))
            #expect(leftovers.map(\.id) == [left.id] && leftovers.first?.pid == 99 && leftovers.first?.status == .running)
            let after = try await store.run(id: left.id)
            #expect(after?.status == .interrupted && after?.durationMs == 10_000)
            #expect(try await store.interruptLeftovers(at: t0).isEmpty)
        }
    }

    @Test(arguments: Kind.testable)
    func changesOfJobsFollowTheSameRules(_ kind: Kind) async throws {
        try await Subject.with(kind) { subject in
            let store = subject.store
            let source = Data("jobs.json".utf8)
            let first = try await subject.apply(Self.jobs, prune: true, source: source, origin: .file("/etc/schedd/jobs.json"))
            #expect(first == ApplyResult(created: ["backup", "notify", "ping"]))
            #expect(try await store.unchangedJobs(since: source) == ["backup", "notify", "ping"])
            #expect(try await store.unchangedJobs(since: Data("other".utf8)) == nil)
            // The API may not change what the daemon's file owns.
            await #expect(throws: APIError.self) {
                try await subject.apply(#"{"jobs": [{"name": "ping", "shell": "true"}]}"#, protectedFile: "/etc/schedd/jobs.json")
            }
            // Named as it is (an export applied back), it stays unchanged and the file's.
            let exported = try await subject.apply(#"{"jobs": [{"name": "api", "shell": "true"}, {"name": "ping", "shell": "ping", "schedule": "@every 30s"}]}"#,
                                                   protectedFile: "/etc/schedd/jobs.json")
            #expect(exported == ApplyResult(created: ["api"], unchanged: ["ping"]))
            #expect(try await store.job(named: "ping")?.origin == .file("/etc/schedd/jobs.json"))
            #expect(try await store.unchangedJobs(since: source) == nil)
            #expect(try await store.jobNames(keptByPruneOf: .file, protectedFile: nil) == ["api"])
            // The file applied again, then unchanged: its own jobs, not the API's.
            _ = try await subject.apply(Self.jobs, prune: true, source: source, origin: .file("/etc/schedd/jobs.json"))
            #expect(try await store.unchangedJobs(since: source) == ["backup", "notify", "ping"])
            #expect(try await store.job(named: "api")?.origin == .api())
            // A file that names a job the API created would take it, and says so (a dry run:
            // it stays the API's); its own jobs are not taken.
            let names = try await store.jobNames()
            let withAPI = Self.jobs.replacingOccurrences(of: #"{"name": "notify", "shell": "notify.sh"},"#,
                                                         with: #"{"name": "notify", "shell": "notify.sh"}, {"name": "api", "shell": "true"},"#)
            let taking = try await store.applyJobs(try jobFile(withAPI, existing: names), prune: true, dryRun: true, now: t0, source: nil,
                                                   origin: .file("/etc/schedd/jobs.json"), protectedFile: nil)
            #expect(taking == ApplyResult(unchanged: ["api", "backup", "notify", "ping"], dryRun: true, claimed: ["api"]))
            #expect(try await store.job(named: "api")?.origin == .api())
            // Removal: refused while triggered, while file-owned, and for an unknown job.
            await #expect { try await store.removeJob(named: "notify", protectedFile: nil) } throws: { ($0 as? APIError)?.code == .conflict }
            await #expect { try await store.removeJob(named: "ping", protectedFile: "/etc/schedd/jobs.json") } throws: { ($0 as? APIError)?.code == .conflict }
            await #expect { try await store.removeJob(named: "nope", protectedFile: nil) } throws: { ($0 as? APIError)?.code == .notFound }
            try await store.removeJob(named: "api", protectedFile: "/etc/schedd/jobs.json")
            // The file's prune removes its own jobs only, and a dry run changes nothing.
            let left = try await store.jobNames()
            let dry = try await store.applyJobs(try jobFile(#"{"jobs": [{"name": "ping", "shell": "ping", "schedule": "@every 30s"}]}"#, existing: left),
                                                prune: true, dryRun: true, now: t0, source: nil, origin: .file("/etc/schedd/jobs.json"), protectedFile: nil)
            #expect(dry == ApplyResult(unchanged: ["ping"], removed: ["backup", "notify"], dryRun: true))
            #expect(try await store.jobNames() == ["backup", "notify", "ping"])
            // State, and the counts `status` shows.
            try await store.saveStates([("ping", JobState(paused: true, pauseReason: "restart_limit")),
                                        ("backup", JobState(paused: true, pauseReason: "manual"))])
            let counts = try await store.jobStateCounts()
            #expect(counts == StatusResponse.Jobs(total: 3, active: 1, paused: 1, failed: 1, disabled: 0,
                                                   problems: [.init(job: "ping", state: "failed", reason: "restart_limit")]))
        }
    }

    @Test(arguments: Kind.testable)
    func pruningKeepsTheNewestAndEveryActiveRun(_ kind: Kind) async throws {
        try await Subject.with(kind) { subject in
            let store = subject.store
            _ = try await subject.apply(Self.jobs)
            var ids: [Int64] = []
            for i in 0..<6 {
                let run = try await subject.start("ping", at: t0.addingTimeInterval(Double(i) * 60))
                ids.append(run.id)
                if i != 0 { _ = try await store.finishRun(run, RunOutcome(status: .succeeded, finishedAt: t0.addingTimeInterval(Double(i) * 60))) }
            }
            // The first run is still running: never pruned.
            #expect(try await store.pruneHistory(keepPerJob: 2, olderThan: nil) == 3)
            #expect(try await store.history(HistoryQuery(job: "ping"), withOutput: false).map(\.id) == [ids[5], ids[4], ids[0]])
            #expect(try await store.pruneHistory(keepPerJob: nil, olderThan: t0.addingTimeInterval(290)) == 1)
            #expect(try await store.history(HistoryQuery(job: "ping"), withOutput: false).map(\.id) == [ids[5], ids[0]])
        }
    }
}
