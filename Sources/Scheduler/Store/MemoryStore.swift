import Foundation
import SchedulerAPI
import Synchronization

/// A store in memory: the engine's tests run on it (no file, no fsync), and it shows what a
/// store must do, next to the SQLite one. Nothing survives the process.
///
/// Its lock is held only to copy or change a few values, never across a wait.
package final class MemoryStore: SchedulerStore {
    private struct StoredJob {
        var text: String
        var spec: JobSpec
        var createdAt: Date
        var updatedAt: Date
        var origin: JobOrigin
        var state = JobState()
        var createdBy: String?
        var changedBy: String?

        var info: JobInfo {
            JobInfo(spec: spec, createdAt: createdAt, updatedAt: updatedAt, state: state, origin: origin, createdBy: createdBy, changedBy: changedBy)
        }
    }

    private struct Contents {
        var jobs: [String: StoredJob] = [:]
        var runs: [Int64: RunRecord] = [:]
        var lastRunID: Int64 = 0
        /// `runs.retry_at`.
        var retryDue: [Int64: Date] = [:]
        /// `runs.retry_node`, where another node is to run the retry.
        var retryNodes: [Int64: String] = [:]
        /// `runs.policy_pending`.
        var policyPending: Set<Int64> = []
        /// Counts changes of definitions, for `unchangedJobs(since:)`.
        var generation = 0
        /// How many times `countRunOutcome` was asked (a store shared by nodes).
        var failureCounts = 0
        var applied: (source: Data, generation: Int)?

        mutating func insert(_ record: RunRecord) -> RunRecord {
            lastRunID += 1
            var record = record
            record.id = lastRunID
            runs[lastRunID] = record
            // As the SQLite store does with each row it inserts.
            jobs[record.job]?.state.lastRunID = record.id
            return record
        }

        /// A job's state as the engine saves it; a store shared by nodes keeps its own count of
        /// failures in a row, but for a resume, which clears it (as PostgreSQL's does).
        mutating func setState(_ state: JobState, of name: String, keepingFailures: Bool) {
            guard let stored = jobs[name]?.state else { return }
            jobs[name]?.state = state
            let resumed = state.consecutiveFailures == 0 && stored.paused && !state.paused
            if keepingFailures && !resumed { jobs[name]?.state.consecutiveFailures = stored.consecutiveFailures }
        }

        /// Whether `run`'s retry has its row: the retry started.
        func retryStarted(of run: RunRecord) -> Bool {
            runs.values.contains { $0.retryOf == run.id }
        }
    }

    private let contents = Mutex(Contents())
    package let instanceID = UUID().uuidString
    package let location = "memory"
    package let changes = ChangeCounter()
    /// Asked before each start: an outcome refuses it, as a store shared by several nodes does
    /// when another node has claimed the run or holds the service; nil starts it.
    private let claim: @Sendable (RunStart) -> RunStart.Outcome?
    /// Awaited before each batch of starts is written: a test holds runs in the moment between
    /// their worker and their start row, as a slow disk does.
    private let beforeStarts: @Sendable ([RunStart]) async -> Void
    /// Asked for each slot `slotsTaken` is asked about: true says another node has its row, as
    /// a store shared by several nodes may.
    private let taken: @Sendable (_ job: String, _ slot: Date) -> Bool

    /// Whether it plays a store that several nodes share in one respect: it keeps each job's
    /// failures in a row itself (`countRunOutcome`, and a success's end resets them), and the
    /// engine's saved states do not change them. Its engine takes the cluster's paths.
    private let shared: Bool

    /// The error every write of the engine's fails with while set, as a full disk's would.
    private let writeFailure = Mutex<(any Error)?>(nil)
    /// The error `setRetries` alone fails with while set.
    private let retryMarkFailure = Mutex<(any Error)?>(nil)
    /// The error `setPoliciesPending` alone fails with, marking, while set.
    private let policyMarkFailure = Mutex<(any Error)?>(nil)

    package init(claim: @escaping @Sendable (RunStart) -> RunStart.Outcome? = { _ in nil },
                 beforeStarts: @escaping @Sendable ([RunStart]) async -> Void = { _ in },
                 taken: @escaping @Sendable (_ job: String, _ slot: Date) -> Bool = { _, _ in false },
                 sharedByNodes: Bool = false) {
        self.shared = sharedByNodes
        self.claim = claim
        self.beforeStarts = beforeStarts
        self.taken = taken
    }

    /// A store of one node: only what the `taken` hook says (as another node's rows would).
    package func slotsTaken(_ slots: [(job: String, slot: Date)]) async throws -> [Bool] {
        slots.map { taken($0.job, $0.slot) }
    }

    package var sharedByNodes: Bool { shared }

    /// The job's failures in a row, counted here (`sharedByNodes`): the count after this result.
    package func countRunOutcome(job: String, failed: Bool) async throws -> Int? {
        guard shared else { return nil }
        try checkWritable()
        return write { contents in
            contents.failureCounts += 1
            let count = failed ? (contents.jobs[job]?.state.consecutiveFailures ?? 0) + 1 : 0
            contents.jobs[job]?.state.consecutiveFailures = count
            return count
        }
    }

    /// How many times the engine asked `countRunOutcome`.
    package var failureCounts: Int { contents.withLock { $0.failureCounts } }

    /// The runs whose retry is marked for another node, by that node (`setRetry(runID:due:onNode:)`).
    package func retryNodes() -> [Int64: String] {
        contents.withLock { $0.retryNodes }
    }

    /// Makes the engine's writes (states, fires, starts, ends, skips) fail with `error` until
    /// called with nil: the engine's tests of a store that refuses writes.
    package func failWrites(with error: (any Error)?) {
        writeFailure.withLock { $0 = error }
    }

    /// Makes `setRetries` (the marks and clearings of retries, apart from a run's end) fail
    /// with `error` until called with nil: the engine's tests of what a run's end writes itself.
    package func failRetryMarks(with error: (any Error)?) {
        retryMarkFailure.withLock { $0 = error }
    }

    /// Makes `setPoliciesPending` marking runs (not clearing them) fail with `error` until
    /// called with nil: the engine's tests of what a run's end writes itself.
    package func failPolicyMarks(with error: (any Error)?) {
        policyMarkFailure.withLock { $0 = error }
    }

    private func checkWritable() throws {
        if let error = writeFailure.withLock({ $0 }) { throw error }
    }

    private func write<T>(_ change: (inout Contents) throws -> T) rethrows -> T {
        defer { changes.bump() }
        return try contents.withLock { try change(&$0) }
    }

    // MARK: - Reads

    package func jobs() async throws -> [JobInfo] {
        contents.withLock { $0.jobs.values.map(\.info) }.sorted { $0.name < $1.name }
    }

    package func job(named name: String) async throws -> JobInfo? {
        contents.withLock { $0.jobs[name]?.info }
    }

    package func jobNames() async throws -> Set<String> {
        contents.withLock { Set($0.jobs.keys) }
    }

    package func jobStateCounts() async throws -> StatusResponse.Jobs {
        StatusResponse.Jobs(counting: try await jobs())
    }

    package func run(id: Int64) async throws -> RunRecord? {
        contents.withLock { $0.runs[id] }
    }

    package func runs(ids: [Int64]) async throws -> [Int64: RunRecord] {
        contents.withLock { contents in
            var found: [Int64: RunRecord] = [:]
            for id in ids {
                guard var run = contents.runs[id] else { continue }
                run.output = nil
                run.outputStreams = nil
                found[id] = run
            }
            return found
        }
    }

    package func history(_ query: HistoryQuery, withOutput: Bool) async throws -> [RunRecord] {
        let matching = contents.withLock { contents in
            contents.runs.values.filter { run in
                (query.job.map { run.job == $0 } ?? true) && query.ownerAllows(run.job) && (query.status.map { run.status == $0 } ?? true)
                    && (query.since.map { run.startedAt >= $0 } ?? true) && (query.beforeID.map { run.id < $0 } ?? true)
            }
        }
        return matching.sorted { $0.id > $1.id }.prefix(max(0, query.limit)).map { run in
            var run = run
            if !withOutput {
                run.output = nil
                run.outputStreams = nil
            }
            return run
        }
    }

    // MARK: - Jobs

    package func applyJobs(_ file: JobFile, prune: Bool, dryRun: Bool, now: Date, source: Data?, origin: JobOrigin,
                           protectedFile: String?) async throws -> ApplyResult {
        try write { contents in
            let plan = try JobChangePlan(file: file, existing: contents.jobs.mapValues(\.text), owners: contents.jobs.mapValues(\.origin),
                                         prune: prune, dryRun: dryRun, origin: origin, protectedFile: protectedFile)
            if dryRun { return plan.result }
            let unchanged = Set(plan.result.unchanged)
            for spec in file.jobs where !unchanged.contains(spec.name) {
                let old = contents.jobs[spec.name]
                contents.jobs[spec.name] = StoredJob(text: plan.texts[spec.name] ?? "", spec: spec, createdAt: old?.createdAt ?? now,
                                                     updatedAt: now, origin: origin, state: old?.state ?? JobState(),
                                                     createdBy: old?.createdBy ?? origin.actor, changedBy: origin.actor)
            }
            for name in plan.ownerChanges { contents.jobs[name]?.origin = origin }
            for name in plan.result.removed { contents.jobs[name] = nil }
            if !plan.result.created.isEmpty || !plan.result.updated.isEmpty || !plan.result.removed.isEmpty {
                contents.generation += 1
            }
            if let source, prune { contents.applied = (source, contents.generation) }
            return plan.result
        }
    }

    package func unchangedJobs(since source: Data) async throws -> [String]? {
        contents.withLock { contents in
            guard let applied = contents.applied, applied.source == source, applied.generation == contents.generation else { return nil }
            return contents.jobs.filter { $0.value.origin.kind == .file }.keys.sorted()
        }
    }

    package func jobNames(keptByPruneOf origin: JobOrigin.Kind, protectedFile: String?) async throws -> Set<String> {
        contents.withLock { contents in
            Set(contents.jobs.filter { !JobChangePlan.prunes($0.value.origin.kind, by: origin, protectedFile: protectedFile) }.keys)
        }
    }

    package func removeJob(named name: String, protectedFile: String?) async throws {
        try write { contents in
            try JobChangePlan.checkRemoval(of: name, owner: contents.jobs[name]?.origin, specs: contents.jobs.values.map(\.spec),
                                           protectedFile: protectedFile)
            contents.jobs[name] = nil
            contents.generation += 1
        }
    }

    package func saveStates(_ states: [(name: String, state: JobState)]) async throws {
        guard !states.isEmpty else { return }
        try checkWritable()
        write { contents in
            for (name, state) in states { contents.setState(state, of: name, keepingFailures: shared) }
        }
    }

    package func recordFires(_ states: [(name: String, state: JobState)]) -> StoreWrite? {
        guard !states.isEmpty else { return nil }
        do {
            try checkWritable()
        } catch {
            return StoreWrite { throw error }
        }
        // Written at once: durable (as far as memory goes) before any later write.
        write { contents in
            for (name, state) in states { contents.setState(state, of: name, keepingFailures: shared) }
        }
        return .done
    }

    // MARK: - Runs

    package func interruptLeftovers(at now: Date) async throws -> [RunRecord] {
        write { contents in
            let leftovers = contents.runs.values.filter { $0.status == .running }.sorted { $0.id > $1.id }
            for run in leftovers {
                contents.runs[run.id]?.status = .interrupted
                contents.runs[run.id]?.finishedAt = now
                contents.runs[run.id]?.durationMs = RunOutcome.durationMs(from: run.startedAt, to: now)
                contents.runs[run.id]?.error = "schedd stopped while the run was active"
            }
            return leftovers
        }
    }

    package func startRuns(_ starts: [RunStart]) async throws -> [RunStart.Outcome] {
        await beforeStarts(starts)
        for start in starts { try await start.fire?.wait() }
        try checkWritable()
        return write { contents in
            starts.map { start in
                if let refusal = claim(start) { return refusal }
                return .started(contents.insert(start.record(id: 0)))
            }
        }
    }

    package func setPID(_ id: Int64, pid: Int32) async throws {
        try checkWritable()
        write { $0.runs[id]?.pid = pid }
    }

    package func finishRuns(_ ends: [(run: RunRecord, outcome: RunOutcome)]) async throws -> [RunRecord?] {
        precondition(ends.allSatisfy { $0.outcome.status.isFinal }, "finish needs a final status")
        try checkWritable()
        return write { contents in
            ends.map { started, outcome in
                let id = started.id
                guard let run = contents.runs[id], run.status == .running else { return nil }
                let finished = outcome.storable.applied(to: run)
                contents.runs[id] = finished
                if let due = outcome.retryAt { contents.retryDue[id] = due }
                if outcome.leavesFinalResult { contents.policyPending.insert(id) }
                if shared && outcome.resetsFailuresInARow { contents.jobs[run.job]?.state.consecutiveFailures = 0 }
                return finished
            }
        }
    }

    package func recordSkipped(_ skips: [RunSkip]) async throws -> [RunRecord] {
        guard !skips.isEmpty else { return [] }
        try checkWritable()
        return write { contents in skips.map { contents.insert($0.record(id: 0)) } }
    }

    package func setRetries(_ marks: [(runID: Int64, due: Date?)]) async throws {
        try checkWritable()
        if let error = retryMarkFailure.withLock({ $0 }) { throw error }
        write { contents in
            for (id, due) in marks where contents.runs[id] != nil { contents.retryDue[id] = due }
        }
    }

    /// Marked as this store's own (it has no other node), the node kept for tests to read
    /// (`retryNodes`).
    package func setRetry(runID: Int64, due: Date, onNode node: String) async throws {
        try checkWritable()
        write { contents in
            guard contents.runs[runID] != nil else { return }
            contents.retryDue[runID] = due
            contents.retryNodes[runID] = node
        }
    }

    package func pendingRetries() async throws -> [(run: RunRecord, due: Date)] {
        write { contents in
            contents.retryDue.sorted { $0.key < $1.key }.compactMap { id, due in
                guard let run = contents.runs[id], !contents.retryStarted(of: run) else { return nil }
                return (run: run, due: due)
            }
        }
    }

    package func setPoliciesPending(_ runIDs: [Int64], _ pending: Bool) async throws {
        try checkWritable()
        if pending, let error = policyMarkFailure.withLock({ $0 }) { throw error }
        write { contents in
            for id in runIDs where contents.runs[id] != nil {
                if pending { contents.policyPending.insert(id) } else { contents.policyPending.remove(id) }
            }
        }
    }

    package func pendingPolicies() async throws -> [RunRecord] {
        write { contents in contents.policyPending.sorted().compactMap { contents.runs[$0] } }
    }

    package func pruneHistory(keepPerJob: Int?, olderThan: Date?) async throws -> Int {
        write { contents in
            var doomed = Set<Int64>()
            if let keep = keepPerJob {
                for runs in Dictionary(grouping: contents.runs.values, by: \.job).values {
                    let newestFirst = runs.sorted { $0.id > $1.id }
                    guard newestFirst.count > keep else { continue }
                    // Everything finished below the oldest run to keep goes.
                    let cutoff = keep > 0 ? newestFirst[keep - 1].id : Int64.max
                    doomed.formUnion(newestFirst.filter { $0.id < cutoff && $0.status != .running }.map(\.id))
                }
            }
            if let olderThan {
                doomed.formUnion(contents.runs.values.filter { $0.startedAt < olderThan && $0.status != .running }.map(\.id))
            }
            // A run whose retry waits stays until the retry starts (a mark whose retry has its
            // row was left by a crash before it was cleared).
            doomed.subtract(contents.retryDue.keys.filter { id in contents.runs[id].map { !contents.retryStarted(of: $0) } ?? false })
            doomed.subtract(contents.policyPending)
            for id in doomed {
                contents.runs[id] = nil
                contents.retryDue[id] = nil
            }
            return doomed.count
        }
    }

    package func releaseMemoryEventually() {}
}
