import Foundation
import Logging
import PostgresHarness
import Testing
@testable import Scheduler
import SchedulerAPI
@testable import SchedulerPostgres

/// The PostgreSQL store's own rules (the ones every store keeps are in `StoreContractTests`):
/// one run per slot across nodes, slots by the database's clock, leases and fencing.
@Suite(.postgres, .timeLimit(.minutes(2)), .enabled(if: PostgresServer.unavailableReason == nil, "needs a PostgreSQL server: \(PostgresServer.unavailableReason ?? "")"))
struct PostgresStoreTests {
    static let jobs = #"{"jobs": [{"name": "tick", "shell": "true", "schedule": "@every 1s"}, {"name": "other", "shell": "true"}]}"#

    /// Deadlines for tests that do not test them: roomy, because the test process's threads
    /// can be held for seconds by the synchronous integration tests beside it, and a call that
    /// passes its deadline then fails a test about something else.
    static var roomy: PostgresStore.Options {
        var options = PostgresStore.Options()
        options.lease = .seconds(30)
        options.callTimeout = .seconds(10)
        return options
    }

    /// Runs `body` with one store per node name, all on one new database holding `jobs`.
    func withNodes(_ names: [String], options: PostgresStore.Options = Self.roomy, url: String? = nil,
                   _ body: ([PostgresStore]) async throws -> Void) async throws {
        let server = try #require(PostgresServer.current)
        let text: String
        if let url { text = url } else { text = try await server.newDatabase() }
        let url = try PostgresURL(text)
        func open(_ index: Int, _ stores: [PostgresStore]) async throws {
            if index == names.count {
                _ = try await stores[0].applyJobs(try jobFile(Self.jobs), prune: false, dryRun: false, now: Date(), source: nil,
                                                  origin: .api(), protectedFile: nil)
                try await body(stores)
                return
            }
            try await PostgresStore.withStore(url: url, node: names[index], options: options, logger: Logger(label: "test")) { store in
                try await open(index + 1, stores + [store])
            }
        }
        try await open(0, [])
    }

    @Test func aSlotStartsOnceWhicheverNodesAskForIt() async throws {
        try await withNodes(["n1", "n2", "n3"]) { nodes in
            let base = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 600).rounded())
            let slots = (0..<100).map { base.addingTimeInterval(Double($0)) }
            // Every node asks for every slot, all at once.
            let outcomes = try await withThrowingTaskGroup(of: (Int, String, RunStart.Outcome).self) { group in
                for (index, slot) in slots.enumerated() {
                    for node in nodes {
                        group.addTask {
                            let start = RunStart(job: "tick", trigger: .schedule, scheduledAt: slot, startedAt: Date())
                            return (index, node.node, try await node.startRun(start))
                        }
                    }
                }
                var all: [(Int, String, RunStart.Outcome)] = []
                for try await outcome in group { all.append(outcome) }
                return all
            }
            let started = outcomes.filter { if case .started = $0.2 { true } else { false } }
            #expect(started.count == 100, "one start per slot")
            #expect(Set(started.map(\.0)).count == 100)
            for (_, node, outcome) in outcomes {
                if case .refused(let reason) = outcome {
                    #expect(reason.contains("runs this slot") && !reason.contains("node \(node) "), "\(reason)")
                }
            }
            // The database holds exactly one row per slot, each with the node that ran it.
            let rows = try await nodes[0].history(HistoryQuery(job: "tick", limit: 1000), withOutput: false)
            #expect(rows.count == 100 && Set(rows.compactMap(\.scheduledAt)).count == 100)
            // A retry of a slot is its own attempt, once too.
            let retry = RunStart(job: "tick", trigger: .retry, attempt: 2, scheduledAt: slots[0], startedAt: Date())
            let first = try await nodes[1].startRun(retry)
            let second = try await nodes[2].startRun(retry)
            guard case .started = first, case .refused = second else {
                Issue.record("a retry's attempt: \(first), then \(second)")
                return
            }
        }
    }

    /// A retry has one row in the cluster, whichever node writes it: a manual run's retry
    /// (no slot to key it) starts once, and one recorded skipped by another node (`schedctl
    /// cancel` there) is refused its start, its mark cleared.
    @Test func aRetryHasOneRowWhicheverNodeWritesIt() async throws {
        try await withNodes(["n1", "n2"]) { nodes in
            func failed() async throws -> RunRecord {
                guard case let .started(run) = try await nodes[0].startRun(RunStart(job: "tick", trigger: .manual, scheduledAt: nil, startedAt: Date())) else {
                    throw APIError(.internal, "not started")
                }
                _ = try await nodes[0].finishRun(run, RunOutcome(status: .failed, finishedAt: Date(), exitCode: 1))
                try await nodes[0].setRetries([(run.id, Date().addingTimeInterval(60))])
                return run
            }
            func retry(of run: RunRecord) -> RunStart {
                var start = RunStart(job: "tick", trigger: .retry, attempt: 2, scheduledAt: nil, startedAt: Date())
                start.retryOf = run.id
                return start
            }
            let one = try await failed()
            let first = try await nodes[0].startRun(retry(of: one))
            let second = try await nodes[1].startRun(retry(of: one))
            guard case let .started(row) = first, case let .refused(reason) = second else {
                Issue.record("a manual run's retry: \(first), then \(second)")
                return
            }
            #expect(row.retryOf == one.id && reason.contains("this retry has its row already (run \(row.id), node n1)"), "\(reason)")
            // Cancelled from n2 while n1 holds it.
            let two = try await failed()
            #expect(try await nodes[0].skipRetriesElsewhere(runIDs: [], job: "tick", reason: "x", by: nil).isEmpty, "n1's own retry")
            let skipped = try await nodes[1].skipRetriesElsewhere(runIDs: [], job: "tick", reason: "skipped: cancelled before it started by uid 0 (root)", by: "uid 0 (root)")
            #expect(skipped.map(\.retryOf) == [two.id] && skipped.first?.status == .skipped && skipped.first?.attempt == 2, "\(skipped)")
            #expect(skipped.first?.error == "skipped: cancelled before it started by uid 0 (root)")
            #expect(try await nodes[0].pendingRetries().isEmpty)
            guard case let .refused(late) = try await nodes[0].startRun(retry(of: two)) else {
                Issue.record("n1 started a retry cancelled on n2")
                return
            }
            #expect(late.contains("run \(skipped[0].id), node n2"), "\(late)")
            // By the failed run's id; nothing left to skip after.
            let three = try await failed()
            #expect(try await nodes[1].skipRetriesElsewhere(runIDs: [one.id], job: nil, reason: "x", by: nil).isEmpty, "its retry ran")
            #expect(try await nodes[1].skipRetriesElsewhere(runIDs: [three.id], job: nil, reason: "x", by: nil).map(\.retryOf) == [three.id])
            #expect(try await nodes[1].skipRetriesElsewhere(runIDs: [three.id], job: "tick", reason: "x", by: nil).isEmpty)
        }
    }

    /// The queue: every node queues every slot, each slot is one row, nodes claim due slots
    /// without waiting for each other, a slot ahead of the database's clock waits, and only
    /// the claimant may finish its run.
    @Test func aQueuedSlotIsClaimedOnceByOneNode() async throws {
        try await withNodes(["n1", "n2", "n3"]) { nodes in
            let base = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 600).rounded())
            let due = (0..<60).map { QueuedSlot(job: "other", trigger: .schedule, scheduledAt: base.addingTimeInterval(Double($0)), forbid: false) }
            let ahead = QueuedSlot(job: "other", trigger: .schedule, scheduledAt: Date().addingTimeInterval(600), forbid: false)
            try await withThrowingTaskGroup(of: [RunRecord].self) { group in
                for node in nodes { group.addTask { try await node.queueSlots(due + [ahead]) } }
                for try await skipped in group { #expect(skipped.isEmpty) }
            }
            #expect(try await nodes[0].history(HistoryQuery(job: "other", limit: 1000), withOutput: false).count == 61)
            // All three claim at once, more than there is: each due slot goes to one of them.
            let claimed = try await withThrowingTaskGroup(of: [RunRecord].self) { group in
                for node in nodes { group.addTask { try await node.claimQueued(limit: 25) } }
                var all: [RunRecord] = []
                for try await some in group { all += some }
                return all
            }
            #expect(claimed.count == 60 && Set(claimed.map(\.id)).count == 60)
            #expect(claimed.allSatisfy { $0.status == .running && $0.trigger == .schedule && $0.scheduledAt != nil })
            #expect(try await nodes[0].claimQueued(limit: 10).isEmpty, "the slot ahead of the database's clock waits")
            // Its claimant finishes a run; another node cannot.
            let run = claimed[0]
            var finishedBy: [String] = []
            for node in nodes {
                if try await node.finishRun(run, RunOutcome(status: .succeeded, finishedAt: Date())) != nil { finishedBy.append(node.node) }
            }
            #expect(finishedBy.count == 1)
        }
    }

    /// A job whose concurrency forbids overlap: a slot queued while a run of the job is queued
    /// or running on any node is recorded as skipped, once.
    @Test func aForbiddenOverlapIsSkippedAcrossTheCluster() async throws {
        try await withNodes(["n1", "n2"]) { nodes in
            let base = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 60).rounded())
            func slot(_ second: Double) -> QueuedSlot { QueuedSlot(job: "tick", trigger: .schedule, scheduledAt: base.addingTimeInterval(second), forbid: true) }
            #expect(try await nodes[0].queueSlots([slot(0)]).isEmpty)
            let first = try await nodes[1].claimQueued(limit: 4)
            #expect(first.count == 1)
            // Running on n2: both nodes fire the next slot; it is skipped once.
            let skipped = try await nodes[0].queueSlots([slot(1)]) + (try await nodes[1].queueSlots([slot(1)]))
            #expect(skipped.count == 1 && skipped[0].status == .skipped && skipped[0].error?.contains("concurrency: forbid") == true)
            #expect(try await nodes[0].claimQueued(limit: 4).isEmpty)
            // Once it has ended, the next slot is queued again.
            #expect(try await nodes[1].finishRun(first[0], RunOutcome(status: .succeeded, finishedAt: Date())) != nil)
            #expect(try await nodes[0].queueSlots([slot(2)]).isEmpty)
            let third = try await nodes[0].claimQueued(limit: 4)
            #expect(third.map(\.scheduledAt) == [base.addingTimeInterval(2)])
            // Two slots queued together (a missed time and the one on time): a statement does
            // not see its own rows, but the later slot is skipped all the same.
            #expect(try await nodes[0].finishRun(try #require(third.first), RunOutcome(status: .succeeded, finishedAt: Date())) != nil)
            let together = try await nodes[1].queueSlots([slot(4), slot(3)])
            #expect(together.map(\.scheduledAt) == [base.addingTimeInterval(4)], "\(together)")
            #expect(together.first?.error == "skipped: a run of this job is still queued or running (concurrency: forbid)")
            #expect(try await nodes[0].claimQueued(limit: 4).map(\.scheduledAt) == [base.addingTimeInterval(3)])
        }
    }

    /// A retry that waits for its job (`forbid`, `replace`) is refused while a run of the job
    /// is running on another node, or queued, naming it; it starts once none is.
    @Test func aRetryThatWaitsForItsJobIsRefusedWhileTheJobRunsElsewhere() async throws {
        try await withNodes(["n1", "n2"]) { nodes in
            let (n1, n2) = (nodes[0], nodes[1])
            guard case let .started(first) = try await n1.startRun(RunStart(job: "tick", trigger: .manual, scheduledAt: nil, startedAt: Date())) else {
                Issue.record("the first attempt did not start")
                return
            }
            #expect(try await n1.finishRun(first, RunOutcome(status: .failed, finishedAt: Date())) != nil)
            func retry(waits: Bool = true) -> RunStart {
                var start = RunStart(job: "tick", trigger: .retry, attempt: 2, scheduledAt: nil, startedAt: Date())
                start.retryOf = first.id
                start.waitsForJob = waits
                return start
            }
            let base = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 60).rounded())
            let slot = { (second: Double) in QueuedSlot(job: "tick", trigger: .schedule, scheduledAt: base.addingTimeInterval(second), forbid: true) }
            #expect(try await n2.queueSlots([slot(0)]).isEmpty)
            let queued = try #require(try await n2.history(HistoryQuery(job: "tick", limit: 1), withOutput: false).first)
            #expect(try await n1.startRun(retry()) == .jobBusyElsewhere(runID: queued.id, node: nil), "a slot of the job is queued")
            let running = try await n2.claimQueued(limit: 1)
            #expect(running.map(\.id) == [queued.id])
            #expect(try await n1.startRun(retry()) == .jobBusyElsewhere(runID: queued.id, node: "n2"), "it runs on n2")
            #expect(try await n1.history(HistoryQuery(job: "tick", limit: 10), withOutput: false).count == 2, "a row was written")
            #expect(try await n2.finishRun(running[0], RunOutcome(status: .succeeded, finishedAt: Date())) != nil)
            guard case let .started(record) = try await n1.startRun(retry()) else {
                Issue.record("the retry did not start once the job's run had ended")
                return
            }
            #expect(record.retryOf == first.id && record.trigger == .retry)
        }
    }

    /// The payload of the first notification on the queue's channel after `body`, heard on a
    /// connection of `store`'s; nil if none comes within 20 s.
    func firstNotification(on store: PostgresStore, after body: () async throws -> Void) async throws -> String? {
        try await store.client.withConnection { connection in
            try await connection.listen(on: PostgresStore.queueChannel) { notifications in
                try await body()
                return try await withThrowingTaskGroup(of: String?.self) { group in
                    group.addTask {
                        for try await notification in notifications { return notification.payload }
                        return nil
                    }
                    group.addTask {
                        try await Task.sleep(for: .seconds(20))
                        return nil
                    }
                    defer { group.cancelAll() }
                    return try await group.next() ?? nil
                }
            }
        }
    }

    /// A retry refused while a run of its job goes on: that run's end wakes the nodes, naming
    /// the job, so that the retry's node asks again at once; an end that no retry waits for
    /// wakes no one. A retry refused for a run that ends before it is marked asks again.
    @Test func aRunThatARetryWaitsForWakesTheNodesWhenItEnds() async throws {
        try await withNodes(["n1", "n2"]) { nodes in
            let (n1, n2) = (nodes[0], nodes[1])
            func manual(_ job: String) -> RunStart { RunStart(job: job, trigger: .manual, scheduledAt: nil, startedAt: Date()) }
            guard case let .started(failed) = try await n1.startRun(manual("tick")),
                  case let .started(blocker) = try await n2.startRun(manual("tick")),
                  case let .started(unrelated) = try await n2.startRun(manual("other")) else {
                Issue.record("the runs did not start")
                return
            }
            #expect(try await n1.finishRun(failed, RunOutcome(status: .failed, finishedAt: Date())) != nil)
            let retry = {
                var start = RunStart(job: "tick", trigger: .retry, attempt: 2, scheduledAt: nil, startedAt: Date())
                start.retryOf = failed.id
                start.waitsForJob = true
                return start
            }()
            #expect(try await n1.startRun(retry) == .jobBusyElsewhere(runID: blocker.id, node: "n2"))
            // In the order of the commits: the first is the blocker's.
            let payload = try await firstNotification(on: n1) { () async throws in
                #expect(try await n2.finishRun(unrelated, RunOutcome(status: .succeeded, finishedAt: Date())) != nil)
                #expect(try await n2.finishRun(blocker, RunOutcome(status: .succeeded, finishedAt: Date())) != nil)
            }
            #expect(payload == "tick")
            guard case let .started(record) = try await n1.startRun(retry) else {
                Issue.record("the retry did not start once the run it waited for had ended")
                return
            }
            #expect(record.retryOf == failed.id)
            // A queued run that a retry waits for, skipped before it starts (a pause, a cancel
            // by hand, a newer slot of a `replace` job), wakes them too.
            #expect(try await n1.finishRun(record, RunOutcome(status: .failed, finishedAt: Date())) != nil)
            let slot = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 60).rounded())
            #expect(try await n2.queueSlots([QueuedSlot(job: "tick", trigger: .schedule, scheduledAt: slot, forbid: true)]).isEmpty)
            let queued = try #require(try await n2.history(HistoryQuery(job: "tick", limit: 1), withOutput: false).first)
            var next = RunStart(job: "tick", trigger: .retry, attempt: 3, scheduledAt: nil, startedAt: Date())
            next.retryOf = record.id
            next.waitsForJob = true
            #expect(try await n1.startRun(next) == .jobBusyElsewhere(runID: queued.id, node: nil))
            let skipped = try await firstNotification(on: n1) { () async throws in
                #expect(try await n2.skipQueued(job: "tick", reason: "skipped: by hand", by: nil).map(\.id) == [queued.id])
            }
            #expect(skipped == "tick")
        }
    }

    /// A slot's start that waits for its job (a `forbid` job whose slots do not go through the
    /// queue: a user's job, one ordered `after` another) is refused while a run of another
    /// slot of the job runs on any node; a slot that has its row already is taken, not busy.
    @Test func aSlotThatWaitsForItsJobIsRefusedWhileAnotherSlotRuns() async throws {
        try await withNodes(["n1", "n2"]) { nodes in
            let base = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 60).rounded())
            func start(_ second: Double) -> RunStart {
                var start = RunStart(job: "tick", trigger: .schedule, scheduledAt: base.addingTimeInterval(second), startedAt: Date())
                start.waitsForJob = true
                return start
            }
            guard case let .started(first) = try await nodes[0].startRun(start(0)) else {
                Issue.record("the first slot did not start")
                return
            }
            #expect(try await nodes[1].startRun(start(0)) == .refused("node n1 runs this slot (run \(first.id))"))
            #expect(try await nodes[1].startRun(start(1)) == .jobBusyElsewhere(runID: first.id, node: "n1"))
            #expect(try await nodes[0].finishRun(first, RunOutcome(status: .succeeded, finishedAt: Date())) != nil)
            guard case let .started(second) = try await nodes[1].startRun(start(1)) else {
                Issue.record("the next slot did not start once the first had ended")
                return
            }
            #expect(second.scheduledAt == base.addingTimeInterval(1))
        }
    }

    /// Two nodes queueing different slots of a `forbid` job at once (one late with its slot,
    /// the other on time with the next): neither statement sees the other's row before it is
    /// committed, so each finds no run of the job, yet only one slot may be queued. The second
    /// waits for the first statement, then is recorded skipped; a start that waits for its job
    /// does the same, and is refused as busy.
    @Test func differentSlotsOfAForbidJobInsertedAtOnceQueueOne() async throws {
        try await withNodes(["n1", "n2"]) { nodes in
            let base = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 60).rounded())
            let epoch = nodes[0].epoch
            let next = QueuedSlot(job: "tick", trigger: .schedule, scheduledAt: base.addingTimeInterval(1), forbid: true)
            let byHand = {
                var start = RunStart(job: "tick", trigger: .manual, scheduledAt: nil, startedAt: Date())
                start.waitsForJob = true
                return start
            }()
            let (skipped, refused) = try await nodes[0].call("test") { connection in
                // n1's statement has queued slot 0, and is not committed yet.
                _ = try await connection.query("BEGIN")
                _ = try await connection.query("""
                    INSERT INTO runs (job, trigger, attempt, status, scheduled_at, started_at, node, epoch, forbids_overlap)
                    VALUES ('tick', 'schedule', 1, 'queued', \(base), now(), 'n1', \(epoch), true)
                    """)
                let ended = RunCounter()
                return try await withThrowingTaskGroup(of: ([RunRecord]?, RunStart.Outcome?).self) { group in
                    group.addTask {
                        defer { ended.next() }
                        return (try await nodes[1].queueSlots([next]), nil)
                    }
                    group.addTask {
                        defer { ended.next() }
                        return (nil, try await nodes[1].startRun(byHand))
                    }
                    // Until both of n2's statements wait for this transaction, or have ended.
                    try await waitFor("n2's statements to wait for n1's") {
                        _ = try await connection.query("SELECT pg_stat_clear_snapshot()")
                        var waiting = 0
                        for try await count in try await connection.query("""
                            SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
                            """).decode(Int64.self) { waiting = Int(count) }
                        return waiting + ended.count == 2
                    }
                    _ = try await connection.query("COMMIT")
                    var skipped: [RunRecord] = []
                    var refused: RunStart.Outcome?
                    for try await (records, outcome) in group {
                        skipped += records ?? []
                        refused = outcome ?? refused
                    }
                    return (skipped, refused)
                }
            }
            let rows = try await nodes[0].history(HistoryQuery(job: "tick", limit: 10), withOutput: false)
            let queued = try #require(rows.first { $0.status == .queued })
            #expect(queued.scheduledAt == base && rows.filter { $0.status == .queued || $0.status == .running }.count == 1, "\(rows)")
            #expect(skipped.count == 1 && skipped.first?.scheduledAt == next.scheduledAt, "\(skipped)")
            #expect(skipped.first?.error?.contains("concurrency: forbid") == true)
            #expect(refused == .jobBusyElsewhere(runID: queued.id, node: nil))
        }
    }

    /// `catch_up: all` under `forbid` or `replace`: slots queued to run one after another are
    /// all queued, whatever of the job runs, and claimed one at a time, oldest first, by
    /// whichever node, each once the run before it has ended; a plain slot of the job fired
    /// meanwhile is skipped.
    @Test func slotsQueuedOneAfterAnotherAreClaimedOneAtATime() async throws {
        try await withNodes(["n1", "n2", "n3"]) { nodes in
            let base = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 60).rounded())
            func slot(_ second: Double, oneAfterAnother: Bool = true) -> QueuedSlot {
                QueuedSlot(job: "tick", trigger: oneAfterAnother ? .catchUp : .schedule, scheduledAt: base.addingTimeInterval(second),
                           forbid: true, oneAfterAnother: oneAfterAnother)
            }
            // A run of the job is already running on n3.
            #expect(try await nodes[0].queueSlots([slot(0, oneAfterAnother: false)]).isEmpty)
            let before = try await nodes[2].claimQueued(limit: 1)
            #expect(before.count == 1)
            // Every node offers the same three missed times: queued once each, none skipped.
            try await withThrowingTaskGroup(of: [RunRecord].self) { group in
                for node in nodes { group.addTask { try await node.queueSlots([slot(1), slot(2), slot(3)]) } }
                for try await skipped in group { #expect(skipped.isEmpty) }
            }
            #expect(try await nodes[0].claimQueued(limit: 4).isEmpty, "claimed while a run of the job is running")
            #expect(try await nodes[2].finishRun(before[0], RunOutcome(status: .succeeded, finishedAt: Date())) != nil)
            var order: [Date?] = []
            for round in 1...3 {
                // All three nodes claim at once: one slot, the oldest, goes to one of them.
                let claimed = try await withThrowingTaskGroup(of: [(PostgresStore, RunRecord)].self) { group in
                    for node in nodes { group.addTask { try await node.claimQueued(limit: 4).map { (node, $0) } } }
                    var all: [(PostgresStore, RunRecord)] = []
                    for try await some in group { all += some }
                    return all
                }
                #expect(claimed.count == 1, "round \(round): \(claimed.map(\.1))")
                guard let (node, run) = claimed.first else { return }
                order.append(run.scheduledAt)
                #expect(run.trigger == .catchUp)
                if round == 1 {
                    // A plain slot fired while they wait is skipped (forbid).
                    let skipped = try await nodes[1].queueSlots([slot(10, oneAfterAnother: false)])
                    #expect(skipped.count == 1 && skipped.first?.error?.contains("concurrency: forbid") == true)
                }
                #expect(try await nodes[0].claimQueued(limit: 4).isEmpty)
                #expect(try await nodes[1].claimQueued(limit: 4).isEmpty)
                #expect(try await node.finishRun(run, RunOutcome(status: .failed, finishedAt: Date())) != nil)
            }
            #expect(order == [1, 2, 3].map { base.addingTimeInterval($0) })
            #expect(try await nodes[0].claimQueued(limit: 4).isEmpty)
        }
    }

    /// A job whose slots do not go through the queue (one ordered `after` another) with
    /// `catch_up: all` under `forbid`: its missed times run one after another across the
    /// nodes, none recorded skipped. Another node runs the oldest; this node's ask for it is
    /// refused (taken), and its next missed time waits for that run, told of its end, then
    /// runs, then the last. Before, each missed time this node could not start at once was
    /// recorded skipped.
    @Test func theMissedTimesOfAJobOutsideTheQueueWaitForARunOnAnotherNode() async throws {
        try await withNodes(["n1", "n2"]) { nodes in
            let gate = Gate()
            let handlers: [String: JobHandler] = ["block": { _ in try await gate.wait() }, "ok": { _ in }]
            let clock = ManualClock(t0.addingTimeInterval(1800))
            let jobs = #"""
                {"jobs": [{"name": "first", "handler": "ok"},
                          {"name": "hourly", "handler": "block", "schedule": "0 * * * *", "catch_up": "all", "after": ["first"]}]}
                """#
            let hour = { (n: Double) in t0.addingTimeInterval(n * 3600) }
            try await withEngine(jobs: jobs, handlers: handlers, clock: clock, store: nodes[0], prepare: { db in
                try await db.saveStates([("hourly", JobState(lastFireAt: hour(-3)))])
                // n2 runs the oldest missed time.
                let start = RunStart(job: "hourly", trigger: .catchUp, scheduledAt: hour(-2), startedAt: Date())
                guard case .started = try await nodes[1].startRun(start) else { throw TestError() }
            }) { engine, log, _ in
                defer { gate.open() }
                let elsewhere = try #require(try await nodes[1].history(HistoryQuery(job: "hourly", limit: 5), withOutput: false).first)
                clock.advance(by: 1)
                await engine.untilIdle(busyWorkersToo: true)
                #expect(await log.started.filter { $0.job == "hourly" }.isEmpty, "a missed time started beside n2's run")
                #expect(try await nodes[1].history(HistoryQuery(job: "hourly", limit: 5), withOutput: false).map(\.id) == [elsewhere.id],
                        "a missed time was recorded")
                #expect(try await nodes[1].finishRun(elsewhere, RunOutcome(status: .succeeded, finishedAt: Date())) != nil)
                // The clock stands still: the next look is `claimRetry` away.
                await engine.runEndedElsewhere(job: "hourly")
                try await waitFor("the next missed time to start") { await log.started.contains { $0.job == "hourly" } }
                gate.open()
                try await drive(clock, engine: engine, until: "the last missed time to run") { await log.finished.filter { $0.job == "hourly" }.count == 2 }
                #expect(await log.started.filter { $0.job == "hourly" }.map(\.scheduledAt) == [hour(-1), hour(0)])
                let rows = try await nodes[1].history(HistoryQuery(job: "hourly", limit: 5), withOutput: false)
                #expect(rows.map(\.scheduledAt) == [hour(0), hour(-1), hour(-2)] && rows.allSatisfy { $0.status == .succeeded }, "\(rows)")
            }
        }
    }

    /// A slot of a `forbid` job queued before the job's missed times were (another node
    /// queued it first, or a start after downtime found it there) runs first: a claim passes
    /// over the missed times while it is queued, though they are older, then claims them one
    /// after another once it has ended.
    @Test func missedTimesQueuedAfterAForbidSlotWaitForIt() async throws {
        try await withNodes(["n1", "n2"]) { nodes in
            let base = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 60).rounded())
            func slot(_ second: Double, oneAfterAnother: Bool) -> QueuedSlot {
                QueuedSlot(job: "tick", trigger: oneAfterAnother ? .catchUp : .schedule, scheduledAt: base.addingTimeInterval(second),
                           forbid: true, oneAfterAnother: oneAfterAnother)
            }
            #expect(try await nodes[0].queueSlots([slot(10, oneAfterAnother: false)]).isEmpty)
            #expect(try await nodes[1].queueSlots([slot(1, oneAfterAnother: true), slot(2, oneAfterAnother: true)]).isEmpty)
            let first = try await nodes[0].claimQueued(limit: 4)
            #expect(first.map(\.scheduledAt) == [base.addingTimeInterval(10)], "\(first.map(\.scheduledAt))")
            #expect(try await nodes[1].claimQueued(limit: 4).isEmpty, "a missed time claimed while the forbid slot runs")
            guard let running = first.first else { return }
            #expect(try await nodes[0].finishRun(running, RunOutcome(status: .succeeded, finishedAt: Date())) != nil)
            let next = try await nodes[1].claimQueued(limit: 4)
            #expect(next.map(\.scheduledAt) == [base.addingTimeInterval(1)])
        }
    }

    /// The same with an engine on the store: the missed times of a job with `catch_up: all`
    /// (and `forbid`, the default) run one after another, oldest first, through the queue.
    /// Before, the engine queued them in one statement, which queued them all, and they ran
    /// side by side.
    @Test func anEngineRunsTheMissedTimesOfAForbidJobOneAfterAnother() async throws {
        try await withNodes(["n1"]) { nodes in
            let gate = Gate()
            let handlers: [String: JobHandler] = ["block": { _ in try await gate.wait() }]
            let clock = ManualClock(t0.addingTimeInterval(1800))
            let jobs = #"{"jobs": [{"name": "hourly", "handler": "block", "schedule": "0 * * * *", "catch_up": "all"}]}"#
            try await withEngine(jobs: jobs, handlers: handlers, clock: clock, store: nodes[0], prepare: { db in
                try await db.saveStates([("hourly", JobState(lastFireAt: t0.addingTimeInterval(-3 * 3600)))])
            }) { engine, log, _ in
                defer { gate.open() }
                clock.advance(by: 1)
                try await waitFor("the oldest missed time to start") { await log.started.contains { $0.job == "hourly" } }
                for _ in 0..<3 {
                    // Past the queue's poll: the engine claims again, and finds nothing to start.
                    clock.advance(by: 2)
                    await engine.untilIdle(busyWorkersToo: true)
                }
                let started = await log.started.filter { $0.job == "hourly" }
                #expect(started.count == 1, "a missed time started beside the running one: \(started)")
                gate.open()
                try await drive(clock, engine: engine, until: "every missed time to run") { await log.finished.filter { $0.job == "hourly" }.count == 3 }
                #expect(await log.started.filter { $0.job == "hourly" }.map(\.scheduledAt) == [-2.0, -1, 0].map { t0.addingTimeInterval($0 * 3600) })
                #expect(await log.finished.filter { $0.job == "hourly" }.allSatisfy { $0.status == .succeeded && $0.trigger == .catchUp })
            }
        }
    }

    /// `replace` for a job whose slots do not go through the queue (one ordered `after`
    /// another): the slot an engine wins asks the job's run of an earlier slot on another node
    /// to stop, as a queued slot's insert does.
    @Test func aReplacingSlotWonOutsideTheQueueStopsTheEarlierRunOnAnotherNode() async throws {
        try await withNodes(["n1", "n2"]) { nodes in
            let (n1, n2) = (nodes[0], nodes[1])
            let clock = ManualClock(t0.addingTimeInterval(-1))
            let jobs = #"""
                {"jobs": [{"name": "first", "handler": "ok"},
                          {"name": "ordered", "handler": "ok", "schedule": "0 * * * *", "concurrency": "replace", "after": ["first"]}]}
                """#
            var earlier: RunRecord?
            try await withEngine(jobs: jobs, handlers: ["ok": { _ in }], clock: clock, store: n1, prepare: { _ in
                // n2 runs the job's slot of an hour before.
                if case let .started(run) = try await n2.startRun(RunStart(job: "ordered", trigger: .schedule, scheduledAt: t0.addingTimeInterval(-3600),
                                                                          startedAt: Date())) {
                    earlier = run
                }
            }) { engine, log, _ in
                let earlier = try #require(earlier)
                clock.advance(by: 1)
                try await waitFor("the slot to run on n1") { await log.finished.contains { $0.job == "ordered" && $0.scheduledAt == t0 } }
                await engine.untilIdle()
                #expect(try await n2.cancelRequests() == [CancelRequest(runID: earlier.id, reason: "replaced by a newer run (concurrency: replace)", by: nil)])
            }
        }
    }

    /// `concurrency: replace` across the cluster: the node whose insert queues a slot asks the
    /// job's runs of earlier slots to stop on whichever node runs them, and skips its earlier
    /// queued slots; a node that fires the same slot later (its row is there) asks nothing.
    @Test func aReplacingSlotStopsEarlierRunsOnAnyNode() async throws {
        try await withNodes(["n1", "n2"]) { nodes in
            let (n1, n2) = (nodes[0], nodes[1])
            let base = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 60).rounded())
            func slot(_ second: Double) -> QueuedSlot {
                QueuedSlot(job: "other", trigger: .schedule, scheduledAt: base.addingTimeInterval(second), forbid: false, replace: true)
            }
            #expect(try await n1.queueSlots([slot(0)]).isEmpty)
            let first = try await n2.claimQueued(limit: 1)
            #expect(first.count == 1)
            #expect(try await n1.queueSlots([slot(1)]).isEmpty, "nothing queued before it")
            #expect(try await n2.cancelRequests().map(\.runID) == first.map(\.id), "the run of slot 0 is asked to stop on n2")
            #expect(try await n2.cancelRequests().first?.reason == "replaced by a newer run (concurrency: replace)")
            // Slot 2 replaces slot 1, still queued.
            let skipped = try await n1.queueSlots([slot(2)])
            #expect(skipped.map(\.scheduledAt) == [base.addingTimeInterval(1)])
            #expect(skipped.first?.error == "skipped: a newer slot replaced it (concurrency: replace)")
            // n2 runs slot 2; n1 firing slot 2 again (its row is there) asks nothing of it.
            let second = try await n2.claimQueued(limit: 1)
            #expect(second.map(\.scheduledAt) == [base.addingTimeInterval(2)])
            #expect(try await n1.queueSlots([slot(2)]).isEmpty)
            #expect(try await n2.cancelRequests().map(\.runID) == first.map(\.id))
        }
    }

    /// A run's output is shared through its row only while another node asks for it: the
    /// follower's node asks, the run's node finds the ask and writes its output so far, the
    /// follower reads it with the byte count that places it; the run's end writes it last.
    @Test func aRunsOutputReachesAnotherNodeWhileItIsFollowed() async throws {
        try await withNodes(["n1", "n2"]) { nodes in
            let (n1, n2) = (nodes[0], nodes[1])
            guard case let .started(run) = try await n2.startRun(RunStart(job: "other", trigger: .manual, scheduledAt: nil, startedAt: Date())) else {
                Issue.record("n2 could not start its run")
                return
            }
            #expect(try await n2.outputWanted().isEmpty, "nobody follows it yet")
            #expect(try await n2.followOutput(runID: run.id) == false, "n2's own run")
            #expect(try await n1.followOutput(runID: run.id))
            #expect(try await n2.outputWanted() == [run.id])
            #expect(try await n1.outputWanted().isEmpty)
            #expect(try await n1.outputSoFar(runID: run.id) == OutputSoFar(status: .running, text: "", streams: nil, totalBytes: nil))

            var tail = OutputTail(limit: 4)
            tail.append(Array("ab".utf8))
            tail.append(Array("c".utf8), stream: .stderr)
            try await n2.writeOutputSoFar([(run.id, tail)])
            let soFar = try #require(try await n1.outputSoFar(runID: run.id))
            #expect(soFar.text == "abc" && soFar.totalBytes == 3)
            var offset: Int64 = 0
            let parts = soFar.parts(after: &offset)
            #expect(parts.map(\.offset) == [0, 2] && parts.map(\.stream) == [.stdout, .stderr])
            #expect(parts.map { String(decoding: $0.bytes, as: UTF8.self) } == ["ab", "c"])
            #expect(offset == 3)

            // More than the tail keeps: what fell out shows as a gap in the offsets.
            tail.append(Array("defghij".utf8))
            try await n2.writeOutputSoFar([(run.id, tail)])
            let later = try #require(try await n1.outputSoFar(runID: run.id))
            #expect(later.totalBytes == 10)
            let rest = later.parts(after: &offset)
            #expect(rest.map(\.offset) == [6] && rest.map { String(decoding: $0.bytes, as: UTF8.self) } == ["ghij"])
            #expect(offset == 10)

            // The end writes the output last; a late write of the output so far changes nothing.
            var outcome = RunOutcome(status: .succeeded, finishedAt: Date(), output: "hijk", outputTruncated: true)
            outcome.outputBytes = 11
            #expect(try await n2.finishRun(run, outcome) != nil)
            try await n2.writeOutputSoFar([(run.id, tail)])
            let end = try #require(try await n1.outputSoFar(runID: run.id))
            #expect(end == OutputSoFar(status: .succeeded, text: "hijk", streams: nil, totalBytes: 11))
            #expect(end.parts(after: &offset).map { String(decoding: $0.bytes, as: UTF8.self) } == ["k"])
            #expect(try await n1.followOutput(runID: run.id) == false, "it has ended")
            #expect(try await n2.outputWanted().isEmpty)
        }
    }

    /// The retry that follows a run's end is read with the end by a node that follows the run,
    /// while it waits and also once it has started (its node may start it before the follower
    /// reads the end: a node back from a restart takes its retry up at once).
    @Test func aFollowerReadsTheRetryOfARunsEndWaitingOrStarted() async throws {
        try await withNodes(["n1", "n2"]) { nodes in
            let (n1, n2) = (nodes[0], nodes[1])
            let t0 = Date(timeIntervalSince1970: floor(Date().timeIntervalSince1970))
            guard case let .started(run) = try await n2.startRun(RunStart(job: "other", trigger: .manual, scheduledAt: nil, startedAt: t0)) else {
                Issue.record("n2 could not start its run")
                return
            }
            var outcome = RunOutcome(status: .cancelled, finishedAt: t0.addingTimeInterval(1), outputTruncated: false)
            outcome.error = "schedd stopped it at shutdown (grace period over)"
            outcome.retryAt = t0.addingTimeInterval(1)
            #expect(try await n2.finishRun(run, outcome) != nil)
            let waiting = try #require(try await n1.outputSoFar(runID: run.id)?.retry)
            #expect(waiting == RetryStatus(attempt: 2, dueAt: t0.addingTimeInterval(1), retryOf: run.id, node: "n2"))
            var retry = RunStart(job: "other", trigger: .retry, attempt: 2, scheduledAt: nil, startedAt: t0.addingTimeInterval(2))
            retry.retryOf = run.id
            guard case .started = try await n2.startRun(retry) else {
                Issue.record("n2 could not start the retry")
                return
            }
            let started = try #require(try await n1.outputSoFar(runID: run.id)?.retry, "a started retry was not told")
            #expect(started.attempt == 2 && started.retryOf == run.id && started.node == "n2")
            // A run that ended with no retry has none.
            guard case let .started(plain) = try await n2.startRun(RunStart(job: "plain", trigger: .manual, scheduledAt: nil, startedAt: t0)) else {
                Issue.record("n2 could not start its run")
                return
            }
            #expect(try await n2.finishRun(plain, RunOutcome(status: .succeeded, finishedAt: t0, outputTruncated: false)) != nil)
            #expect(try await n1.outputSoFar(runID: plain.id)?.retry == nil)
        }
    }

    /// A final result left for the next start (`policy_pending`) is the marking node's: another
    /// node does not read it while that node is up, and takes it over, once, when the node has
    /// left, or when a node declared dead marks one later (as a retry); pruning keeps its run
    /// until it is cleared.
    @Test func aFinalResultLeftForTheNextStartIsTheNodesUntilItLeavesAndOutlivesPruning() async throws {
        try await withNodes(["n1", "n2"]) { nodes in
            let (n1, n2) = (nodes[0], nodes[1])
            let t0 = Date(timeIntervalSince1970: floor(Date().timeIntervalSince1970) - 3600)
            var ids: [Int64] = []
            for offset in 0..<2 {
                guard case let .started(run) = try await n2.startRun(RunStart(job: "j", trigger: .manual, scheduledAt: nil,
                                                                               startedAt: t0.addingTimeInterval(Double(offset)))) else {
                    Issue.record("n2 could not start its run")
                    return
                }
                #expect(try await n2.finishRun(run, RunOutcome(status: .failed, finishedAt: t0.addingTimeInterval(Double(offset)), outputTruncated: false)) != nil)
                ids.append(run.id)
            }
            try await n2.setPoliciesPending([ids[0]], true)
            #expect(try await n2.pendingPolicies().map(\.id) == [ids[0]])
            #expect(try await n1.pendingPolicies().isEmpty, "a node read another node's final results")
            #expect(try await n1.declareExpiredNodesDead().policies.isEmpty, "taken over from a node that is up")
            #expect(try await n1.pruneHistory(keepPerJob: 0, olderThan: nil) == 1)
            #expect(try await n2.history(HistoryQuery(job: "j"), withOutput: false).map(\.id) == [ids[0]])
            await n2.leave()
            #expect(try await n1.declareExpiredNodesDead().policies.map(\.id) == [ids[0]], "not taken over from a node that left")
            #expect(try await n1.pendingPolicies().map(\.id) == [ids[0]])
            #expect(try await n2.pendingPolicies().isEmpty)
            #expect(try await n1.declareExpiredNodesDead().policies.isEmpty, "taken over twice")
            try await n1.setPoliciesPending([ids[0]], false)
            #expect(try await n1.pendingPolicies().isEmpty)
            // A node declared dead whose mark comes later (a frozen process that woke as it
            // stopped) hands it on too.
            try await n1.call("test") { connection in
                _ = try await connection.query("UPDATE nodes SET state = 'dead' WHERE name = 'n2'")
            }
            try await n2.setPoliciesPending([ids[0]], true)
            #expect(try await n1.declareExpiredNodesDead().policies.map(\.id) == [ids[0]], "not taken over from a node declared dead before")
            try await n1.setPoliciesPending([ids[0]], false)
            // And so does a retry it marks then.
            guard case let .started(failed) = try await n1.startRun(RunStart(job: "j", trigger: .manual, scheduledAt: nil, startedAt: t0)) else {
                Issue.record("n1 could not start its run")
                return
            }
            #expect(try await n1.finishRun(failed, RunOutcome(status: .failed, finishedAt: t0, outputTruncated: false)) != nil)
            try await n2.setRetries([(runID: failed.id, due: t0)])
            #expect(try await n1.declareExpiredNodesDead().retries.map(\.run.id) == [failed.id], "a retry not taken over from a node declared dead before")
            #expect(try await n1.pendingRetries().map(\.run.id) == [failed.id])
            try await n1.setRetries([(runID: failed.id, due: nil)])
            // The marks cleared, the runs kept for them go.
            #expect(try await n1.pruneHistory(keepPerJob: 0, olderThan: nil) == 2)
        }
    }

    /// The queue is bounded: a slot queued for longer than the late tolerance while no node had
    /// a free worker follows its job's `catch_up`; a manual run queued for a node that is not up
    /// is given up; slots past the bound are skipped as they come.
    @Test func queuedRunsThatCannotRunAsMeantAreGivenUp() async throws {
        try await withNodes(["n1", "n2"]) { nodes in
            let file = #"""
                {"jobs": [{"name": "none", "shell": "true", "schedule": "@every 1s", "concurrency": "allow"},
                          {"name": "once", "shell": "true", "schedule": "@every 1s", "concurrency": "allow", "catch_up": "once"},
                          {"name": "all", "shell": "true", "schedule": "@every 1s", "concurrency": "allow", "catch_up": "all"},
                          {"name": "on-n2", "shell": "true", "node": "n2"}, {"name": "on-n3", "shell": "true", "node": "n3"}]}
                """#
            _ = try await nodes[0].applyJobs(try jobFile(file), prune: false, dryRun: false, now: Date(), source: nil, origin: .api(), protectedFile: nil)
            let base = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 600).rounded())
            var slots: [QueuedSlot] = []
            for job in ["none", "once", "all"] {
                slots += (0..<3).map { QueuedSlot(job: job, trigger: .schedule, scheduledAt: base.addingTimeInterval(Double($0)), forbid: false) }
            }
            let fresh = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 1).rounded())
            slots.append(QueuedSlot(job: "none", trigger: .schedule, scheduledAt: fresh, forbid: false))
            #expect(try await nodes[0].queueSlots(slots, limit: 100).isEmpty)
            // The stale slots were queued at their time; one more, as old, is queued only now
            // (a job's jitter fired it late on purpose): it has the whole tolerance in the queue.
            let cutoff = base.addingTimeInterval(3)
            try await nodes[0].call("test") { _ = try await $0.query("UPDATE runs SET started_at = scheduled_at WHERE status = 'queued' AND scheduled_at < \(cutoff)") }
            #expect(try await nodes[0].queueSlots([QueuedSlot(job: "none", trigger: .schedule, scheduledAt: base.addingTimeInterval(5), forbid: false)],
                                                  limit: 100).isEmpty)
            let forUp = try await nodes[0].queueRun(job: "on-n2", node: "n2", triggeredBy: nil)
            // A run for a node that is not up is refused; one queued while its node was up is
            // given up once the node has gone.
            await #expect(throws: APIError.self) { try await nodes[0].queueRun(job: "on-n3", node: "n3", triggeredBy: nil) }
            let forDown = try await nodes[0].queueRun(job: "on-n2", node: "n2", triggeredBy: nil)
            try await nodes[0].call("test") { _ = try await $0.query("UPDATE nodes SET state = 'left' WHERE name = 'n2'") }

            let expired = try await nodes[1].expireQueued(tolerance: .seconds(60))
            func slotsOf(_ job: String) -> [Date] { expired.filter { $0.job == job }.compactMap(\.scheduledAt).sorted() }
            #expect(expired.allSatisfy { $0.status == .skipped && $0.finishedAt != nil })
            #expect(slotsOf("none") == (0..<3).map { base.addingTimeInterval(Double($0)) }, "catch_up none: every stale slot, not the fresh ones")
            #expect(expired.first { $0.job == "none" }?.error == "missed: queued for more than 1m while no node had a free worker (catch_up: none)")
            #expect(slotsOf("once") == [base, base.addingTimeInterval(1)], "catch_up once: all but the newest")
            #expect(slotsOf("all").isEmpty, "catch_up all keeps every slot")
            #expect(expired.filter { $0.job == "on-n2" }.map(\.id) == [forUp.id, forDown.id])
            #expect(expired.first { $0.job == "on-n2" }?.error == "skipped: node n2, the only node this job runs on, is not up")
            #expect(try await nodes[0].expireQueued(tolerance: .seconds(60)).isEmpty, "given up once")

            // 3 (all) + 1 (once) + 2 (fresh) are queued: at a bound of 6, more are skipped.
            let more = [QueuedSlot(job: "none", trigger: .schedule, scheduledAt: fresh.addingTimeInterval(-1), forbid: false)]
            let skipped = try await nodes[0].queueSlots(more, limit: 6)
            #expect(skipped.count == 1 && skipped[0].error == "skipped: 6 slots are already queued across the cluster (the most schedd queues)")
            #expect(try await nodes[0].queueSlots([QueuedSlot(job: "none", trigger: .schedule, scheduledAt: fresh.addingTimeInterval(-2), forbid: false)],
                                                  limit: 7).isEmpty)
        }
    }

    /// A slot of a job pinned to a node is recorded as missed only while that node is not up
    /// by the database: a node whose list of nodes is older than the pinned node's start must
    /// not record a miss beside the run.
    @Test func aMissIsRecordedOnlyWhileThePinnedNodeIsNotUp() async throws {
        try await withNodes(["n1", "n2"]) { nodes in
            let slot = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 60).rounded())
            var miss = RunSkip(job: "tick", trigger: .schedule, scheduledAt: slot, at: Date(), reason: "missed: node n2, the only node this job runs on, is not up")
            miss.missedNode = "n2"
            let whileUp = try await nodes[0].recordSkipped([miss])
            #expect(whileUp.isEmpty, "n2 is up")
            await nodes[1].leave()
            let afterItLeft = try await nodes[0].recordSkipped([miss])
            #expect(afterItLeft.count == 1)
        }
    }

    /// A node that cannot run a slot records a skip, unless another node has run it or
    /// recorded it as skipped, and the skip never keeps another node from running it.
    @Test func aSkipNeverTakesASlotFromAnotherNode() async throws {
        try await withNodes(["n1", "n2"]) { nodes in
            let slot = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 60).rounded())
            let skip = RunSkip(job: "tick", trigger: .schedule, scheduledAt: slot, at: Date(), reason: "skipped: a run is waiting for a worker")
            #expect(try await nodes[0].recordSkipped([skip]).count == 1)
            guard case .started = try await nodes[1].startRun(RunStart(job: "tick", trigger: .schedule, scheduledAt: slot, startedAt: Date())) else {
                Issue.record("a skip kept another node from running the slot")
                return
            }
            // Once it has run, a later skip of it is not recorded; nor is a second node's skip of
            // a slot already recorded as skipped (every node fires every slot).
            #expect(try await nodes[0].recordSkipped([skip]).isEmpty)
            var next = skip
            next.scheduledAt = slot.addingTimeInterval(1)
            #expect(try await nodes[0].recordSkipped([next]).count == 1)
            #expect(try await nodes[1].recordSkipped([next]).isEmpty)
            // Nodes skipping one slot at the same moment: one row.
            let third = RunSkip(job: "tick", trigger: .schedule, scheduledAt: slot.addingTimeInterval(2), at: Date(), reason: skip.reason)
            let recorded = try await withThrowingTaskGroup(of: Int.self) { group in
                for node in nodes + nodes {
                    group.addTask { try await node.recordSkipped([third]).count }
                }
                return try await group.reduce(0, +)
            }
            #expect(recorded == 1)
            let history = try await nodes[0].history(HistoryQuery(job: "tick"), withOutput: false).map(\.status)
            #expect(history == [.skipped, .skipped, .running, .skipped])
        }
    }

    /// A slot is taken once some node has a row of it that is not a skip: queued, running or
    /// ended, by any node; a skip leaves it to the others (as `aSkipNeverTakesASlotFromAnotherNode`).
    @Test func aSlotIsTakenOnceANodeHasARowOfItThatIsNotASkip() async throws {
        try await withNodes(["n1", "n2"]) { nodes in
            let base = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 60).rounded())
            let (ran, ended, skipped, queued, none) = (base, base.addingTimeInterval(1), base.addingTimeInterval(2), base.addingTimeInterval(3),
                                                       base.addingTimeInterval(4))
            for slot in [ran, ended] {
                guard case let .started(run) = try await nodes[0].startRun(RunStart(job: "tick", trigger: .schedule, scheduledAt: slot, startedAt: Date())) else {
                    Issue.record("the slot's start was refused")
                    return
                }
                if slot == ended { _ = try await nodes[0].finishRun(run, RunOutcome(status: .failed, finishedAt: Date(), exitCode: 1)) }
            }
            let skip = RunSkip(job: "tick", trigger: .schedule, scheduledAt: skipped, at: Date(), reason: "skipped: a run is waiting for a worker")
            #expect(try await nodes[0].recordSkipped([skip]).count == 1)
            #expect(try await nodes[0].queueSlots([QueuedSlot(job: "tick", trigger: .schedule, scheduledAt: queued, forbid: false)],
                                                  limit: 100).isEmpty)
            let asked = [("tick", ran), ("tick", ended), ("tick", skipped), ("tick", queued), ("tick", none), ("other", ran)]
            #expect(try await nodes[1].slotsTaken(asked) == [true, true, false, true, false, false])
            #expect(try await nodes[1].slotsTaken([]) == [])
        }
    }

    /// A node whose lease has lapsed does not read which slots are taken: its starts are
    /// refused at once anyway, and the read would wait for a cut-off database up to its
    /// deadline, in the engine's turn. It answers that none is, where a node with its lease
    /// reads the row.
    @Test func aNodeWhoseLeaseLapsedDoesNotReadWhichSlotsAreTaken() async throws {
        let server = try #require(PostgresServer.current)
        let url = try await server.newDatabase()
        try await withNodes(["n1"], url: url) { nodes in
            let slot = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 60).rounded())
            guard case .started = try await nodes[0].startRun(RunStart(job: "tick", trigger: .schedule, scheduledAt: slot, startedAt: Date())) else {
                Issue.record("the slot's start was refused")
                return
            }
            var options = PostgresStore.Options()
            options.lease = .seconds(3)
            options.callTimeout = .seconds(2)
            try await PostgresStore.withStore(url: try PostgresURL(url), node: "n2", options: options, logger: Logger(label: "test")) { n2 in
                // n2 never renews: its lease lapses by its own clock.
                let deadline = ContinuousClock.now + .seconds(20)
                while n2.leaseIsTrusted && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
                #expect(!n2.leaseIsTrusted)
                #expect(try await n2.slotsTaken([("tick", slot)]) == [false])
            }
            #expect(try await nodes[0].slotsTaken([("tick", slot)]) == [true])
        }
    }

    /// A node that shut down cleanly, and may not come back, leaves its waiting retries to the
    /// others: the next node to look takes them over, each due when it was, once. A job pinned
    /// to it keeps its retry for its return, and a node that is back under the name keeps what
    /// it marks.
    @Test func theWaitingRetriesOfANodeThatLeftAreTakenOver() async throws {
        let server = try #require(PostgresServer.current)
        let url = try await server.newDatabase()
        try await withNodes(["n2", "n3"], url: url) { nodes in
            let (n2, n3) = (nodes[0], nodes[1])
            _ = try await n2.applyJobs(try jobFile(#"{"jobs": [{"name": "pinned", "shell": "true", "node": "n1"}]}"#, existing: ["tick", "other"]),
                                       prune: false, dryRun: false, now: Date(), source: nil, origin: .api(), protectedFile: nil)
            let due = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + 3600).rounded())
            func failRuns(on node: PostgresStore, of jobs: [String]) async throws -> [RunRecord] {
                var failed: [RunRecord] = []
                for job in jobs {
                    guard case .started(let run) = try await node.startRun(RunStart(job: job, trigger: .manual, scheduledAt: nil, startedAt: Date())),
                          let ended = try await node.finishRun(run, RunOutcome(status: .failed, finishedAt: Date(), exitCode: 1)) else {
                        Issue.record("the failed run of \(job) was not recorded")
                        return []
                    }
                    failed.append(ended)
                }
                try await node.setRetries(failed.map { ($0.id, due) })
                return failed
            }
            let failed = try await PostgresStore.withStore(url: try PostgresURL(url), node: "n1", options: Self.roomy, logger: Logger(label: "test")) { n1 in
                let failed = try await failRuns(on: n1, of: ["other", "pinned"])
                await n1.leave()
                return failed
            }
            try #require(failed.count == 2)
            #expect(try await n2.nodes().first { $0.name == "n1" }?.state == "left")
            let takeover = try await n2.declareExpiredNodesDead()
            #expect(takeover.lost.isEmpty)
            #expect(takeover.retries.map(\.run.id) == [failed[0].id] && takeover.retries.map(\.due) == [due])
            #expect(try await n2.pendingRetries().map(\.run.id) == [failed[0].id])
            #expect(try await n3.declareExpiredNodesDead().isEmpty, "a retry is taken over once")
            #expect(try await n3.pendingRetries().isEmpty)
            try await PostgresStore.withStore(url: try PostgresURL(url), node: "n1", options: Self.roomy, logger: Logger(label: "test")) { n1 in
                #expect(try await n1.pendingRetries().map(\.run.id) == [failed[1].id])
                let marked = try await failRuns(on: n1, of: ["other"])
                #expect(try await n2.declareExpiredNodesDead().isEmpty, "a retry of a node that is up was taken over")
                #expect(try await n1.pendingRetries().map(\.run.id).sorted() == [failed[1].id] + marked.map(\.id))
            }
        }
    }

    /// The name of a node gone a day ago (left, or declared dead) is forgotten by the next node
    /// to look: nodes started under a new host name each time (containers) would otherwise add
    /// a row at every start, for good. One that left lately stays. A node started later under a
    /// forgotten name registers afresh, under an epoch no registration had before, so that a
    /// frozen process of the dead one, waking after its row is gone, is still fenced: its late
    /// end of a run of the new registration is refused. (Before, a dead node's row was kept
    /// for ever, and epochs counted from 1 per name.)
    @Test func aNodeGoneADayAgoIsForgottenAndItsNameRegistersUnderANewEpoch() async throws {
        let server = try #require(PostgresServer.current)
        let url = try await server.newDatabase()
        try await withNodes(["n1"], url: url) { nodes in
            for name in ["old", "recent"] {
                try await PostgresStore.withStore(url: try PostgresURL(url), node: name, options: Self.roomy, logger: Logger(label: "test")) { store in
                    await store.leave()
                }
            }
            // A registration whose process is frozen: its store stays open, and its row is
            // declared dead.
            try await PostgresStore.withStore(url: try PostgresURL(url), node: "frozen", options: Self.roomy, logger: Logger(label: "test")) { frozen in
                try await nodes[0].call("test") { connection in
                    _ = try await connection.query("UPDATE nodes SET heartbeat_at = now() - interval '25 hours' WHERE name IN ('old', 'frozen')")
                    _ = try await connection.query("UPDATE nodes SET state = 'dead' WHERE name = 'frozen'")
                }
                let takeover = try await nodes[0].declareExpiredNodesDead()
                #expect(takeover.forgotten == ["frozen", "old"])
                #expect(try await nodes[0].nodes().map { "\($0.name) \($0.state)" } == ["n1 up", "recent left"])
                #expect(try await nodes[0].declareExpiredNodesDead().forgotten.isEmpty)
                let old = try await PostgresStore.withStore(url: try PostgresURL(url), node: "old", options: Self.roomy, logger: Logger(label: "test")) { $0.epoch }
                let (epoch, lateEnd) = try await PostgresStore.withStore(url: try PostgresURL(url), node: "frozen", options: Self.roomy,
                                                                       logger: Logger(label: "test")) { again -> (Int64, RunRecord?) in
                    guard case let .started(run) = try await again.startRun(RunStart(job: "tick", trigger: .manual, scheduledAt: nil, startedAt: Date())) else {
                        Issue.record("the new registration could not start a run")
                        return (again.epoch, nil)
                    }
                    return (again.epoch, try await frozen.finishRun(run, RunOutcome(status: .failed, finishedAt: Date(), outputTruncated: false)))
                }
                #expect(epoch > frozen.epoch && epoch > old && old > nodes[0].epoch, "epochs \(nodes[0].epoch), \(frozen.epoch), \(old), \(epoch)")
                #expect(lateEnd == nil, "the forgotten registration's late end of a new registration's run was taken")
                #expect(try await frozen.renewLease(running: 0) == .fenced)
            }
        }
    }

    /// A job's failures in a row are the cluster's, counted in place, and a success's end that
    /// says so (the end of its trigger) sets them back to 0 in the same statement; an end that
    /// does not say so leaves them.
    @Test func aSuccessEndResetsTheJobsFailuresInARowWhenItSaysSo() async throws {
        try await withNodes(["n1", "n2"]) { nodes in
            #expect(try await nodes[0].countRunOutcome(job: "tick", failed: true) == 1)
            #expect(try await nodes[1].countRunOutcome(job: "tick", failed: true) == 2)
            func succeed(resetting: Bool) async throws {
                guard case .started(let run) = try await nodes[1].startRun(RunStart(job: "tick", trigger: .manual, scheduledAt: nil, startedAt: Date())) else {
                    Issue.record("the start was refused")
                    return
                }
                var outcome = RunOutcome(status: .succeeded, finishedAt: Date())
                outcome.resetsFailuresInARow = resetting
                #expect(try await nodes[1].finishRuns([(run, outcome)]).first??.status == .succeeded)
            }
            func failures() async throws -> Int? { try await nodes[0].jobs().first { $0.spec.name == "tick" }?.state.consecutiveFailures }
            try await succeed(resetting: false)
            #expect(try await failures() == 2)
            try await succeed(resetting: true)
            #expect(try await failures() == 0)
            #expect(try await nodes[0].countRunOutcome(job: "tick", failed: true) == 1)
        }
    }

    /// One node at a time holds a service; removing the job frees it.
    @Test func aServiceIsHeldByOneNodeUntilItsJobIsRemoved() async throws {
        try await withNodes(["n1", "n2"]) { nodes in
            let start = RunStart(job: "other", trigger: .boot, scheduledAt: nil, startedAt: Date(), exclusive: true)
            guard case .started = try await nodes[0].startRun(start) else {
                Issue.record("the first claim was refused")
                return
            }
            let second = try await nodes[1].startRun(start)
            #expect(second == .heldElsewhere(node: "n1"))
            try await nodes[1].removeJob(named: "other", protectedFile: nil)
            _ = try await nodes[1].applyJobs(try jobFile(#"{"jobs": [{"name": "other", "shell": "true"}]}"#, existing: ["tick"]), prune: false,
                                             dryRun: false, now: Date(), source: nil, origin: .api(), protectedFile: nil)
            guard case .started = try await nodes[1].startRun(start) else {
                Issue.record("a removed job's service stayed held by its old node")
                return
            }
        }
    }

    @Test func aSlotAheadOfTheDatabasesClockIsNotStarted() async throws {
        try await withNodes(["n1"]) { nodes in
            let farAhead = Date().addingTimeInterval(60)
            let refused = try await nodes[0].startRun(RunStart(job: "tick", trigger: .schedule, scheduledAt: farAhead, startedAt: Date()))
            guard case .refused(let reason) = refused else {
                Issue.record("a slot a minute ahead was started: \(refused)")
                return
            }
            #expect(reason.contains("ahead of the database's clock"))
            #expect(try await nodes[0].history(HistoryQuery(job: "tick"), withOutput: false).isEmpty)
            // A little ahead (a clock a few hundred ms fast): the start waits for the slot.
            let soon = Date().addingTimeInterval(0.4)
            let waited = try await nodes[0].startRun(RunStart(job: "tick", trigger: .schedule, scheduledAt: soon, startedAt: soon))
            guard case .started(let run) = waited else {
                Issue.record("a slot 0.4 s ahead was refused: \(waited)")
                return
            }
            #expect(Date() >= soon.addingTimeInterval(-0.05) && run.scheduledAt == PostgresStore.ms(soon))
        }
    }

    /// A turn's starts are claimed together, and each is told what happened to it: started,
    /// taken by another node, waited for (a little early), or refused (far ahead).
    @Test func aTurnsStartsAreClaimedTogetherEachWithItsOutcome() async throws {
        try await withNodes(["n1", "n2"]) { nodes in
            let base = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 60).rounded())
            guard case .started(let taken) = try await nodes[1].startRun(RunStart(job: "tick", trigger: .schedule, scheduledAt: base, startedAt: Date())) else {
                Issue.record("n2 could not start its slot")
                return
            }
            let soon = Date().addingTimeInterval(0.3)
            let starts = [
                RunStart(job: "tick", trigger: .schedule, scheduledAt: base, startedAt: Date()),
                RunStart(job: "tick", trigger: .schedule, scheduledAt: base.addingTimeInterval(1), startedAt: Date()),
                RunStart(job: "other", trigger: .manual, scheduledAt: nil, startedAt: Date(), triggeredBy: "alice"),
                RunStart(job: "other", trigger: .manual, scheduledAt: nil, startedAt: Date(), triggeredBy: "bob"),
                RunStart(job: "tick", trigger: .schedule, scheduledAt: soon, startedAt: Date()),
                RunStart(job: "tick", trigger: .schedule, scheduledAt: Date().addingTimeInterval(60), startedAt: Date()),
                RunStart(job: "tick", trigger: .retry, attempt: 2, scheduledAt: base, startedAt: Date()),
            ]
            let outcomes = try await nodes[0].startRuns(starts)
            try #require(outcomes.count == starts.count)
            func started(_ index: Int) -> RunRecord? { if case .started(let record) = outcomes[index] { record } else { nil } }
            func refusal(_ index: Int) -> String { if case .refused(let reason) = outcomes[index] { reason } else { "" } }
            #expect(refusal(0) == "node n2 runs this slot (run \(taken.id))")
            #expect(started(1)?.scheduledAt == base.addingTimeInterval(1) && started(1)?.job == "tick")
            #expect(started(2)?.triggeredBy == "alice" && started(3)?.triggeredBy == "bob" && started(2)?.job == "other")
            #expect(started(4)?.scheduledAt == PostgresStore.ms(soon) && Date() >= soon.addingTimeInterval(-0.05))
            #expect(refusal(5).contains("ahead of the database's clock"), "\(outcomes[5])")
            #expect(started(6)?.attempt == 2 && started(6)?.trigger == .retry)
            // Exactly the started ones are on record, each once, all by n1.
            let rows = try await nodes[0].history(HistoryQuery(limit: 100), withOutput: false)
            #expect(rows.count == 6 && rows.filter { $0.id != taken.id }.count == 5)
            let ids = Set([1, 2, 3, 4, 6].compactMap { started($0)?.id })
            #expect(ids.count == 5 && ids.isSubset(of: Set(rows.map(\.id))))
            // `list` shows each job's newest run, read from the runs.
            let jobs = try await nodes[1].jobs()
            #expect(jobs.first { $0.spec.name == "other" }?.state.lastRunID == started(3)?.id)
        }
    }

    @Test func aNodeWhoseLeaseExpiresIsDeadItsRunsLostAndItsLateWritesRefused() async throws {
        var options = PostgresStore.Options()
        options.lease = .seconds(3)
        try await withNodes(["n1", "n2"], options: options) { nodes in
            let (n1, n2) = (nodes[0], nodes[1])
            // Trusted from now (opening the second store may have taken most of a short lease
            // on a loaded machine).
            #expect(try await n1.renewLease(running: 0) != .fenced)
            guard case .started(let run) = try await n1.startRun(RunStart(job: "other", trigger: .manual, scheduledAt: nil, startedAt: Date())) else {
                Issue.record("the start was refused")
                return
            }
            // n1 also has two failed runs whose retries wait: one of a job any node runs, one of
            // a job pinned to n1.
            _ = try await n2.applyJobs(try jobFile(#"{"jobs": [{"name": "pinned", "shell": "true", "node": "n1"}]}"#), prune: false, dryRun: false,
                                       now: Date(), source: nil, origin: .api(), protectedFile: nil)
            // n1's writes of the set-up each on a lease just renewed: a 3 s lease, less its
            // margin, can lapse between them on a loaded machine (CI's, once), and a node whose
            // lease lapsed rightly writes nothing.
            var failed: [RunRecord] = []
            for job in ["other", "pinned"] {
                #expect(try await n1.renewLease(running: 0) != .fenced)
                guard case .started(let run) = try await n1.startRun(RunStart(job: job, trigger: .manual, scheduledAt: nil, startedAt: Date())) else {
                    Issue.record("the start of the run of \(job) was refused")
                    return
                }
                guard let ended = try await n1.finishRun(run, RunOutcome(status: .failed, finishedAt: Date(), exitCode: 1)) else {
                    Issue.record("the failed end of the run of \(job) was not recorded")
                    return
                }
                failed.append(ended)
            }
            let due = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + 3600).rounded())
            try await n1.setRetries(failed.map { ($0.id, due) })
            // And a run of the pinned job, lost with n1 below.
            #expect(try await n1.renewLease(running: 0) != .fenced)
            guard case .started(let pinnedRun) = try await n1.startRun(RunStart(job: "pinned", trigger: .manual, scheduledAt: nil, startedAt: Date())) else {
                Issue.record("the start of the pinned job was refused")
                return
            }
            // A retry on n2 waits for n1's run of "other" (as `startRuns` marks it).
            try await n2.call("test") { _ = try await $0.query("UPDATE runs SET wake_on_end = true WHERE id = \(run.id)") }
            // n2 keeps renewing; n1 stops (as a frozen or cut-off node does).
            var takeover = DeadNodesTakeover()
            let woken = try await firstNotification(on: n2) { () async throws in
                let deadline = ContinuousClock.now + .seconds(15)
                while takeover.isEmpty && ContinuousClock.now < deadline {
                    _ = try await n2.renewLease(running: 0)
                    takeover = try await n2.declareExpiredNodesDead()
                    if takeover.isEmpty { try await Task.sleep(for: .milliseconds(200)) }
                }
            }
            #expect(woken == "other", "the lost run's waiting retry was not woken")
            let lost = takeover.lost.sorted { $0.id < $1.id }
            #expect(lost.map(\.id) == [run.id, pinnedRun.id] && lost.allSatisfy { $0.status == .lost })
            // n2 runs n1's waiting retry from now on, due when it was; the pinned job's waits
            // for n1.
            #expect(takeover.retries.map(\.run.id) == [failed[0].id] && takeover.retries.map(\.due) == [due])
            #expect(try await n2.pendingRetries().map(\.run.id) == [failed[0].id])
            #expect(try await n1.pendingRetries().map(\.run.id) == [failed[1].id])
            #expect(lost.first?.error == "lost: node n1 stopped renewing its lease while the run was active")
            // n1 no longer trusts its lease by its own clock (it lapsed before the others could
            // take over), its late end is refused, and its renewal says it is fenced.
            #expect(!n1.leaseIsTrusted)
            let late = try await n1.startRun(RunStart(job: "other", trigger: .manual, scheduledAt: nil, startedAt: Date()))
            if case .started = late { Issue.record("a node past its lease started a run") }
            #expect(try await n1.finishRun(run, RunOutcome(status: .succeeded, finishedAt: Date())) == nil)
            #expect(try await n1.run(id: run.id)?.status == .lost)
            #expect(try await n1.renewLease(running: 0) == .fenced)
            let states = try await n2.nodes().map { "\($0.name) \($0.state)" }
            #expect(states == ["n1 dead", "n2 up"])
            #expect(try await n2.declareExpiredNodesDead().isEmpty, "a node is declared dead once")
            #expect(try await n2.pendingRetries().map(\.run.id) == [failed[0].id])
            // The pinned job's lost run: n2 marks its retry for n1 (the engine's takeover),
            // which n1 takes up when it is back, and n2 does not.
            try await n2.setRetry(runID: pinnedRun.id, due: due, onNode: "n1")
            #expect(try await n2.pendingRetries().map(\.run.id) == [failed[0].id])
            #expect(try await n1.pendingRetries().map(\.run.id).sorted() == [failed[1].id, pinnedRun.id])
            #expect(try await n1.pendingRetries().first { $0.run.id == pinnedRun.id }?.due == due)
        }
    }

    @Test func aNodeNameHeldByALiveNodeIsRefusedAndFreedWhenItLeaves() async throws {
        var options = PostgresStore.Options()
        options.lease = .seconds(2)
        let server = try #require(PostgresServer.current)
        let url = try await server.newDatabase()
        try await withNodes(["same"], options: options, url: url) { nodes in
            let holder = nodes[0]
            // The holder renews while a second "same" tries to register: it waits out the
            // lease (in case it were the holder's own previous life), then gives up.
            await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    while !Task.isCancelled {
                        _ = try await holder.renewLease(running: 0)
                        try await Task.sleep(for: .milliseconds(300))
                    }
                }
                await #expect {
                    try await PostgresStore.withStore(url: try PostgresURL(url), node: "same", options: options, logger: Logger(label: "test")) { _ in }
                } throws: { error in
                    (error as? APIError)?.code == .conflict && (error as? APIError)?.message.contains("held by a live node") == true
                }
                group.cancelAll()
            }
            await holder.leave()
            // Once it has left, the name is free at once, with a new epoch.
            let renewals = try await PostgresStore.withStore(url: try PostgresURL(url), node: "same", options: options,
                                                             logger: Logger(label: "test")) { again in
                #expect(again.epoch > holder.epoch)
                return [try await again.renewLease(running: 0), try await holder.renewLease(running: 0)]
            }
            #expect(renewals.count == 2 && renewals[0] != .fenced && renewals[1] == .fenced)
        }
    }

    /// A server that goes silent (frozen, or cut off without a word) never answers a query
    /// under way, and postgres-nio does not stop one when its task is cancelled: the call's
    /// deadline closes the connection, so the call fails by its deadline, and the store works
    /// again on new connections once the server is back. A server of its own, frozen whole.
    /// A call whose connection is closed between two of its queries (the deadline closes it;
    /// the server closes one it finds idle in a transaction too long) still ends by its
    /// deadline: postgres-nio never answers a query asked of a closed connection. Before the
    /// call ran its work in a task of its own, this test hung (its time limit ended it).
    @Test func aCallWhoseConnectionIsClosedEndsByItsDeadline() async throws {
        // The deadline of this call only: the set-up's calls keep roomy ones (with the store's
        // at 1 s, its apply missed it on a loaded machine, in a CI run).
        try await withNodes(["n1"]) { nodes in
            do {
                try await nodes[0].call("closed", timeout: .seconds(1)) { connection in
                    try await connection.close()
                    _ = try await connection.query("SELECT 1")
                }
                Issue.record("a query on a closed connection answered")
            } catch let error as APIError {
                #expect(error.code == .databaseUnavailable && error.message.contains("did not answer within 1.0 seconds (closed)"), "\(error)")
            }
            #expect(try await nodes[0].schemaVersion() == PostgresSchema.currentVersion, "the store answers on another connection")
        }
    }

    /// Connections go back to the pool and idle out between calls, again and again; each time
    /// the store closes at once. With postgres-nio's keep-alive due when the idle close is (both
    /// at 10 s, as the store had them), the keep-alive's query met a closing connection in the
    /// second or third round, never answered, and the client's `run()` never returned: a node
    /// that had left the cluster did not exit (the time limit ended this test).
    @Test func theStoreClosesAtOnceAfterItsConnectionsIdledOut() async throws {
        #expect(PostgresStore.clientConfiguration(url: try PostgresURL("postgresql://u@/d?host=/tmp"), options: Self.roomy)
            .options.keepAliveBehavior == nil, "a keep-alive can meet the idle close and hold the client's run() for ever")
        var options = Self.roomy
        options.connectionIdleTimeout = .seconds(1)
        // A close that hangs is ended by the suite's time limit, which fails the test.
        for _ in 0..<6 {
            try await withNodes(["n1"], options: options) { nodes in
                for _ in 0..<2 {
                    // Several connections at once, then past their idle time.
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for _ in 0..<4 { group.addTask { _ = try await nodes[0].jobs() } }
                        try await group.waitForAll()
                    }
                    try await Task.sleep(for: .milliseconds(1500))
                }
            }
        }
    }

    @Test func aCallToASilentServerEndsByItsDeadlineAndTheStoreRecovers() async throws {
        let server = try await PostgresServer.start()
        do {
            try await freezeAndResume(server)
        } catch {
            try? await server.signalAll(SIGCONT)
            await server.stop()
            throw error
        }
        await server.stop()
    }

    func freezeAndResume(_ server: PostgresServer) async throws {
        var options = PostgresStore.Options()
        options.callTimeout = .seconds(1)
        let url = try PostgresURL(try await server.newDatabase())
        try await PostgresStore.withStore(url: url, node: "n1", options: options, logger: Logger(label: "test")) { store in
            _ = try await store.jobs()
            try await server.signalAll(SIGSTOP)
            let resumed = StopFlag()
            try await withThrowingTaskGroup(of: Void.self) { group in
                // The way out should the call never end: the server resumes after a minute.
                group.addTask {
                    try? await Task.sleep(for: .seconds(60))
                    resumed.set()
                    try await server.signalAll(SIGCONT)
                }
                do {
                    _ = try await store.jobs()
                    Issue.record("a frozen server answered")
                } catch let error as APIError {
                    #expect(error.code == .databaseUnavailable && error.message.contains("did not answer within"), "\(error)")
                }
                #expect(!resumed.isSet, "the call ended only once the server resumed")
                group.cancelAll()
            }
            try await server.signalAll(SIGCONT)
            // The pool replaces the closed connection.
            #expect(try await store.jobs().isEmpty)
            #expect(try await store.schemaVersion() == PostgresSchema.currentVersion)
        }
    }

    @Test func aDatabaseOfANewerSchemaIsRefusedAndLeftAlone() async throws {
        let server = try #require(PostgresServer.current)
        let url = try await server.newDatabase()
        let version = try await PostgresStore.withStore(url: try PostgresURL(url), node: "n1", logger: Logger(label: "test")) { store in
            try await store.schemaVersion()
        }
        #expect(version == PostgresSchema.currentVersion)
        let database = try PostgresURL(url).database
        let server2 = server
        try await PostgresServer.offPool { _ = try server2.psql(database, "UPDATE meta SET value = '99' WHERE key = 'schema_version'") }
        await #expect {
            try await PostgresStore.withStore(url: try PostgresURL(url), node: "n1", logger: Logger(label: "test")) { _ in }
        } throws: { error in
            (error as? APIError)?.code == .databaseUnusable && (error as? APIError)?.message.contains("schema version 99") == true
        }
    }

    /// A database made by an older schedd is brought up to date when a node opens it, its
    /// rows kept.
    @Test func aDatabaseOfAnOlderSchemaIsMigrated() async throws {
        let server = try #require(PostgresServer.current)
        let url = try await server.newDatabase()
        try await PostgresStore.withStore(url: try PostgresURL(url), node: "n1", logger: Logger(label: "test")) { store in
            _ = try await store.startRun(RunStart(job: "tick", trigger: .manual, scheduledAt: nil, startedAt: Date()))
        }
        let database = try PostgresURL(url).database
        let server2 = server
        // Version 1, as schedd made it before version 2's indexes, version 3's queue, version
        // 4's notifications of changes, version 5's output followed from another node, version
        // 6's pending retries and the columns, indexes, trigger and tables of versions 7 to 18.
        try await PostgresServer.offPool {
            _ = try server2.psql(database, """
                DROP INDEX runs_by_slot; DROP INDEX runs_one_skip_per_slot; DROP INDEX runs_queued_in_order; DROP INDEX runs_active_by_job;
                DROP FUNCTION schedd_claim; DROP INDEX runs_retry_pending; DROP INDEX runs_retry_of; DROP INDEX runs_one_forbidding_run;
                DROP INDEX runs_policy_pending; DROP SEQUENCE node_epochs; DROP TABLE service_commands;
                DROP TRIGGER runs_wake_waiters ON runs; DROP FUNCTION schedd_wake_waiters;
                ALTER TABLE runs DROP CONSTRAINT runs_status_check, DROP COLUMN cancel_requested, DROP COLUMN cancel_requested_by, DROP COLUMN queue_node,
                    DROP COLUMN output_wanted_until, DROP COLUMN output_total, DROP COLUMN retry_at, DROP COLUMN retry_node, DROP COLUMN triggered_by_run,
                    DROP COLUMN retry_of, DROP COLUMN waits_for_job, DROP COLUMN forbids_overlap, DROP COLUMN wake_on_end, DROP COLUMN policy_pending;
                ALTER TABLE runs ADD CONSTRAINT runs_status_check
                    CHECK (status IN ('running', 'succeeded', 'failed', 'timed_out', 'cancelled', 'interrupted', 'skipped', 'lost'));
                CREATE OR REPLACE FUNCTION schedd_jobs_generation() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    UPDATE meta SET value = (value::bigint + 1)::text WHERE key = 'jobs_generation';
                    RETURN NULL;
                END $$;
                CREATE OR REPLACE FUNCTION schedd_pauses_generation() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    UPDATE meta SET value = (value::bigint + 1)::text WHERE key = 'pauses_generation';
                    RETURN NULL;
                END $$;
                UPDATE nodes SET epoch = 40, state = 'left'; UPDATE runs SET epoch = 41;
                UPDATE meta SET value = '1' WHERE key = 'schema_version'
                """)
        }
        let (version, epoch) = try await PostgresStore.withStore(url: try PostgresURL(url), node: "n1", logger: Logger(label: "test")) { store in
            #expect(try await store.history(HistoryQuery(), withOutput: false).count == 1)
            return (try await store.schemaVersion(), store.epoch)
        }
        #expect(version == 18 && PostgresSchema.currentVersion == 18)
        // The epochs' sequence (version 17) starts past every epoch written (a run's here).
        #expect(epoch == 42)
        let indexes = try await PostgresServer.offPool {
            try server2.psql(database, """
                SELECT to_regclass('runs_by_slot') IS NOT NULL AND to_regclass('runs_one_skip_per_slot') IS NOT NULL
                   AND to_regclass('runs_queued') IS NULL AND to_regclass('runs_queued_in_order') IS NOT NULL
                   AND to_regproc('schedd_claim') IS NOT NULL
                   AND to_regclass('runs_active_by_job') IS NOT NULL AND to_regclass('runs_retry_pending') IS NOT NULL
                   AND to_regclass('runs_one_forbidding_run') IS NOT NULL AND to_regproc('schedd_wake_waiters') IS NOT NULL
                   AND to_regclass('runs_policy_pending') IS NOT NULL AND to_regclass('node_epochs') IS NOT NULL
                   AND (SELECT data_type FROM information_schema.columns WHERE table_name = 'runs' AND column_name = 'policy_pending') = 'text'
                   AND pg_get_constraintdef((SELECT oid FROM pg_constraint WHERE conname = 'runs_status_check')) LIKE '%queued%'
                   AND (SELECT count(*) FROM information_schema.columns WHERE table_name = 'runs'
                        AND column_name IN ('cancel_requested', 'cancel_requested_by', 'queue_node', 'output_wanted_until', 'output_total',
                                            'retry_at', 'waits_for_job', 'forbids_overlap', 'wake_on_end', 'policy_pending')) = 10
                   AND (SELECT count(*) FROM pg_proc WHERE proname IN ('schedd_jobs_generation', 'schedd_pauses_generation') AND prosrc LIKE '%pg_notify%') = 2
                """)
        }
        #expect(indexes == "t")
    }

    /// Version 16 names the node in a final result's mark: a mark of version 15 (a boolean)
    /// becomes its run's node, which applies it at its next start.
    @Test func aFinalResultMarkedByVersion15IsItsRunsNodes() async throws {
        let server = try #require(PostgresServer.current)
        let url = try await server.newDatabase()
        let id = try await PostgresStore.withStore(url: try PostgresURL(url), node: "n1", logger: Logger(label: "test")) { store -> Int64 in
            guard case let .started(run) = try await store.startRun(RunStart(job: "tick", trigger: .manual, scheduledAt: nil, startedAt: Date())) else {
                Issue.record("n1 could not start its run")
                return 0
            }
            #expect(try await store.finishRun(run, RunOutcome(status: .failed, finishedAt: Date(), outputTruncated: false)) != nil)
            return run.id
        }
        let database = try PostgresURL(url).database
        let server2 = server
        try await PostgresServer.offPool {
            _ = try server2.psql(database, """
                DROP INDEX runs_policy_pending;
                ALTER TABLE runs ALTER COLUMN policy_pending TYPE boolean USING policy_pending IS NOT NULL;
                CREATE INDEX runs_policy_pending ON runs (node) WHERE policy_pending IS NOT NULL;
                UPDATE runs SET policy_pending = true WHERE id = \(id);
                DROP SEQUENCE node_epochs; DROP TABLE service_commands;
                UPDATE meta SET value = '15' WHERE key = 'schema_version'
                """)
        }
        let (version, pending) = try await PostgresStore.withStore(url: try PostgresURL(url), node: "n1", logger: Logger(label: "test")) { store in
            (try await store.schemaVersion(), try await store.pendingPolicies().map(\.id))
        }
        #expect(version == PostgresSchema.currentVersion && pending == [id])
    }

    /// Nodes that start together on a new database: one makes the schema, the others wait for
    /// it and find it made.
    @Test func nodesStartingTogetherOnANewDatabaseMigrateItOnce() async throws {
        let server = try #require(PostgresServer.current)
        for _ in 0..<3 {
            let url = try PostgresURL(try await server.newDatabase())
            try await withThrowingTaskGroup(of: Int.self) { group in
                for name in ["a", "b", "c", "d"] {
                    group.addTask {
                        try await PostgresStore.withStore(url: url, node: name, logger: Logger(label: "test")) { store in
                            try await store.schemaVersion()
                        }
                    }
                }
                for try await version in group { #expect(version == PostgresSchema.currentVersion) }
            }
        }
    }

    @Test func nodesShowsEachNodeByTheDatabasesClock() async throws {
        var options = PostgresStore.Options()
        options.workers = 4
        try await withNodes(["a", "b"], options: options) { nodes in
            guard case .renewed(let offset) = try await nodes[0].renewLease(running: 3) else {
                Issue.record("fenced")
                return
            }
            #expect(abs(offset) < 1000, "the same machine's clock: \(offset) ms")
            let shown = try await nodes[1].nodes()
            #expect(shown.map(\.name) == ["a", "b"] && shown.allSatisfy { $0.state == "up" && $0.workers == 4 })
            #expect(shown[0].running == 3 && shown[0].clockOffsetMs != nil && shown[0].heartbeatAgeMs < 5000 && shown[0].leaseRemainingMs > 0)
        }
    }
}

/// The URLs users give `--postgres`, as libpq takes them.
@Suite struct PostgresURLTests {
    @Test func socketAndTCPForms() throws {
        let socket = try PostgresURL("postgresql://schedd@/jobs?host=/run/postgresql")
        #expect(socket.endpoint == .socket(path: "/run/postgresql/.s.PGSQL.5432") && socket.user == "schedd" && socket.database == "jobs")
        #expect(try PostgresURL("postgres://u@/d?host=%2Ftmp%2Fpg&port=5433").endpoint == .socket(path: "/tmp/pg/.s.PGSQL.5433"))
        let tcp = try PostgresURL("postgresql://schedd:s%40cret@db.example:6432/jobs?sslmode=require")
        #expect(tcp.endpoint == .tcp(host: "db.example", port: 6432) && tcp.password == "s@cret" && tcp.sslMode == .require)
        #expect(try PostgresURL("postgresql://u@[::1]/d").endpoint == .tcp(host: "::1", port: 5432))
        #expect(try PostgresURL("postgresql://u@[fe80::1]:6543/d").endpoint == .tcp(host: "fe80::1", port: 6543))
        #expect(try PostgresURL("postgresql://u@h/d").sslMode == .prefer)
        #expect(!tcp.description.contains("s@cret") && !tcp.description.contains("cret"))
    }

    @Test(arguments: [
        ("mysql://u@h/d", "is not postgresql://"),
        ("postgresql://h/d", "no user"),
        ("postgresql://u@h", "no database"),
        ("postgresql://u@h:99999/d", "the port \"99999\""),
        ("postgresql://u@h/d?sslmode=maybe", "sslmode=maybe"),
        ("postgresql://u@h/d?connect_timeout=3", "\"connect_timeout\" is not one schedd knows"),
        ("postgresql://u:hunter2@/d", "no host"),
        ("localhost:5432", "expected postgresql://"),
        ("postgresql://u@[::1/d", "the host \"[::1\" has no closing \"]\""),
        ("postgresql://u@::1/d", "an IPv6 address goes in brackets"),
        ("postgresql://u@[::1]x/d", "\"x\" after the host [::1] is not :PORT"),
        ("postgresql://u@h:/d", "the port \"\" is not a number"),
    ])
    func badURLsSayWhatIsWrong(_ text: String, _ message: String) {
        #expect { try PostgresURL(text) } throws: { error in
            let text = "\(error)"
            return text.contains(message) && !text.contains("hunter2")
        }
    }
}
