import Foundation
import SchedulerAPI

/// Where the engine keeps job definitions, job state and run history: the one seam between
/// the engine and storage. `SchedulerDatabase` (SQLite) implements it, `MemoryStore` does for
/// the engine's tests, and a shared database for several nodes can.
///
/// The engine is the only writer: it alone holds a store and calls the methods that change
/// it; everything else reads through `StoreReader`.
///
/// What every store guarantees, checked for each by `StoreContractTests`:
/// - runs' starts and ends, skips, and fires are durable when their call returns;
/// - runs' ends and skips are written whatever happens to the calling task (cancelled or not);
/// - `fire` of a `RunStart` is durable no later than the start row (a crash never fires a
///   slot twice), while `recordFires` itself does not wait;
/// - `finishRun` changes only a running row, so a run is never finished twice;
/// - `startRun` may refuse a start (another node has claimed it); nothing is written then.
package protocol SchedulerStore: StoreReader {
    /// A random id made with the store, which marks the processes of its runs.
    var instanceID: String { get }

    /// Applies a validated job file atomically by the rules of `JobChangePlan`; with `dryRun`
    /// only reports. `source` is recorded with a pruning apply for `unchangedJobs(since:)`.
    func applyJobs(_ file: JobFile, prune: Bool, dryRun: Bool, now: Date, source: Data?, origin: JobOrigin,
                   protectedFile: String?) async throws -> ApplyResult
    /// The names of the jobs files own if `source` is what the last pruning apply wrote and
    /// no job changed since; nil otherwise.
    func unchangedJobs(since source: Data) async throws -> [String]?
    /// The jobs a pruning apply by `origin` leaves in place whatever its file says.
    func jobNames(keptByPruneOf origin: JobOrigin.Kind, protectedFile: String?) async throws -> Set<String>
    /// Deletes a job and its state (its history stays), by the rules of
    /// `JobChangePlan.checkRemoval`.
    func removeJob(named name: String, protectedFile: String?) async throws

    /// Writes the engine's view of some jobs' state in one transaction.
    func saveStates(_ states: [(name: String, state: JobState)]) async throws
    /// Queues the state of jobs that fired, without waiting; nil when there is none.
    func recordFires(_ states: [(name: String, state: JobState)]) -> StoreWrite?

    /// Marks the runs a stopped daemon left `running` as interrupted; returns them as they were.
    func interruptLeftovers(at now: Date) async throws -> [RunRecord]
    /// Records runs' starts in one write, or refuses some; one outcome per start, in order.
    func startRuns(_ starts: [RunStart]) async throws -> [RunStart.Outcome]
    func setPID(_ id: Int64, pid: Int32) async throws
    /// Writes runs' final statuses in one write; for each, the final record, or nil when the
    /// row was not running. `run` is the run as the caller knows it: the record its start
    /// returned, with the pid it set since.
    func finishRuns(_ ends: [(run: RunRecord, outcome: RunOutcome)]) async throws -> [RunRecord?]
    /// Records the ends of some runs and the starts of others (one turn of the engine), as
    /// `finishRuns` and `startRuns` do, each with its own result; a store may commit them
    /// together.
    func recordTurn(ends: [(run: RunRecord, outcome: RunOutcome)], starts: [RunStart]) async
        -> (ends: Result<[RunRecord?], any Error>, starts: Result<[RunStart.Outcome], any Error>)
    /// Records triggers that started no run, in one transaction.
    func recordSkipped(_ skips: [RunSkip]) async throws -> [RunRecord]
    /// Marks finished runs whose retry is due at a later time (`runs.retry_at`), or clears the
    /// mark (nil) once their retry has started: a retry waiting for its time outlives a
    /// restart of schedd.
    func setRetries(_ marks: [(runID: Int64, due: Date?)]) async throws
    /// Marks a run's retry for another node to run (cluster mode: a run lost with the node its
    /// job is pinned to), which takes it up in its `pendingRetries` once it is back. A store
    /// of one node has no other: it marks the retry as its own.
    func setRetry(runID: Int64, due: Date, onNode node: String) async throws
    /// This node's marked runs whose retry has not started (no `retry` run of the job with the
    /// next attempt after them), oldest first, with when the retry is due.
    func pendingRetries() async throws -> [(run: RunRecord, due: Date)]
    /// Marks runs that ended while the engine was stopping, with no retry, whose trigger's
    /// final result (failures in a row, `on_failure`/`on_success`) the next start applies
    /// (`runs.policy_pending`); or clears the marks (`pending` false) once it is applied.
    func setPoliciesPending(_ runIDs: [Int64], _ pending: Bool) async throws
    /// This node's runs marked by `setPoliciesPending`, oldest first.
    func pendingPolicies() async throws -> [RunRecord]
    /// Deletes finished runs beyond the newest `keepPerJob` of each job and those started
    /// before `olderThan`; returns how many went.
    func pruneHistory(keepPerJob: Int?, olderThan: Date?) async throws -> Int

    /// Whether several nodes share the store (cluster mode): what one node counts or asks for
    /// is kept in the store for all of them.
    var sharedByNodes: Bool { get }
    /// Whether scheduled slots go through a queue in the store that any node with a free
    /// worker claims from (a store shared by several nodes), instead of each engine running
    /// the slots it fires.
    var queuesSlots: Bool { get }
    /// Queues slots for whichever node claims them first, each slot once: a slot that has a row
    /// already (queued, run or skipped, by any node) is left as it is. A slot of a job whose
    /// concurrency forbids overlap is recorded as skipped instead while the job has a run queued
    /// or running anywhere, and every slot is while `limit` slots wait in the queue already (the
    /// queue is bounded like a node's own queue of runs). Returns the skips it recorded.
    func queueSlots(_ slots: [QueuedSlot], limit: Int) async throws -> [RunRecord]
    /// Claims up to `limit` queued slots that are due by the store's clock, oldest first; they
    /// are this node's running runs when this returns.
    func claimQueued(limit: Int) async throws -> [RunRecord]
    /// Which of `slots` (a job's fire times) already have a row that is not `skipped` in a
    /// shared store: some node queued, runs or ran them. A node that asks for the slots of a
    /// job outside the queue after the job's first node leaves those out rather than spend a
    /// worker's turn on a start the store would refuse. One `Bool` per slot, in order. A store
    /// of one node: none (its engine is the only one to fire them).
    func slotsTaken(_ slots: [(job: String, slot: Date)]) async throws -> [Bool]

    /// Asks whichever node runs `runIDs` (or, with `job`, every running run of it) to cancel
    /// them, when they run on another node of a shared store; returns the runs asked. A store
    /// of one node has no other node: nothing.
    func requestCancel(runIDs: [Int64], job: String?, reason: String, by caller: String?) async throws -> [Int64]
    /// Records as `skipped`, with `reason`, the retries that wait for their time on other nodes
    /// of a shared store (of `job`, or those following the failed runs `runIDs`), and clears
    /// their marks: the node holding one finds its row there when it comes due, and does not
    /// start it. Returns the rows written. A store of one node has no other node: nothing.
    func skipRetriesElsewhere(runIDs: [Int64], job: String?, reason: String, by caller: String?) async throws -> [RunRecord]
    /// The retries of `job` that wait for their time on other nodes of a shared store, the
    /// soonest first, each with its node. A store of one node has no other node: none.
    func retriesElsewhere(job: String) async throws -> [RetryStatus]
    /// Records as `skipped`, with `reason`, the runs of `job` still queued in a shared store
    /// (slots and manual runs no node has claimed yet), so that no node starts them; returns
    /// the rows. A store of one node has no queue: nothing.
    func skipQueued(job: String, reason: String, by caller: String?) async throws -> [RunRecord]
    /// `concurrency: replace` in a shared store, once a newer run of `job` starts here: the
    /// job's runs of earlier slots (and its manual runs) are asked to stop on whichever node
    /// runs them, and its earlier queued slots are recorded `skipped`; with no `slot` (a run by
    /// hand or a trigger), every run of the job queued, or running on another node. Returns
    /// the skipped rows. A store of one node: nothing (its engine stops its own runs).
    func replaceEarlier(job: String, slot: Date?) async throws -> [RunRecord]
    /// Queues a manual run of `job` for `node` alone to claim (a job pinned to another node,
    /// run from this one); returns its `queued` row.
    func queueRun(job: String, node: String, triggeredBy: String?) async throws -> RunRecord
    /// The cancels other nodes asked of this node's running runs, not yet done.
    func cancelRequests() async throws -> [CancelRequest]
    /// Whether a stop, start or restart of a service another node runs can be asked of that
    /// node through the store (`ServiceCommand`).
    var carriesServiceCommands: Bool { get }
    /// Asks `holder` to do `action` to its service `job`, and wakes it; returns the ask's id.
    func askService(_ job: String, _ action: ServiceCommand.Action, of holder: String, by caller: String?) async throws -> Int64
    /// The answer to ask `id` once its node has given it (the ask is then forgotten); nil
    /// while it has not.
    func serviceAnswer(_ id: Int64) async throws -> ServiceCommand.Answer?
    /// Withdraws ask `id` unless its node has taken it: whether it was withdrawn.
    func withdrawServiceAsk(_ id: Int64) async throws -> Bool
    /// The asks of other nodes for this node's services, each taken by this read (never given
    /// to another); asks nobody collected for a minute are forgotten.
    func serviceCommands() async throws -> [ServiceCommand]
    /// Answers ask `id`.
    func answerServiceCommand(_ id: Int64, _ answer: ServiceCommand.Answer) async throws
    /// Counts a job's final result into its failures in a row, kept by the store when it is
    /// shared by several nodes (each node runs some of the job's runs): the count after it.
    /// Nil when the engine's own count is the job's (one node); asked only of a store
    /// `sharedByNodes`.
    func countRunOutcome(job: String, failed: Bool) async throws -> Int?
}

extension SchedulerStore {
    /// A store of one node runs the slots its engine fires: there is no queue.
    package var sharedByNodes: Bool { false }

    package var queuesSlots: Bool { false }

    package func queueSlots(_ slots: [QueuedSlot], limit: Int) async throws -> [RunRecord] {
        throw APIError(.internal, "this store has no queue of slots")
    }

    /// Queues slots with the engine's default bound.
    package func queueSlots(_ slots: [QueuedSlot]) async throws -> [RunRecord] {
        try await queueSlots(slots, limit: JobScheduler.Configuration().maxQueued)
    }

    package func claimQueued(limit: Int) async throws -> [RunRecord] { [] }
    package func slotsTaken(_ slots: [(job: String, slot: Date)]) async throws -> [Bool] { slots.map { _ in false } }

    package func requestCancel(runIDs: [Int64], job: String?, reason: String, by caller: String?) async throws -> [Int64] { [] }

    package func cancelRequests() async throws -> [CancelRequest] { [] }

    package var carriesServiceCommands: Bool { false }

    package func askService(_ job: String, _ action: ServiceCommand.Action, of holder: String, by caller: String?) async throws -> Int64 {
        throw APIError(.conflict, "\"\(job)\" runs on node \(holder): stop, start or restart it there")
    }

    package func serviceAnswer(_ id: Int64) async throws -> ServiceCommand.Answer? { nil }

    package func withdrawServiceAsk(_ id: Int64) async throws -> Bool { true }

    package func serviceCommands() async throws -> [ServiceCommand] { [] }

    package func answerServiceCommand(_ id: Int64, _ answer: ServiceCommand.Answer) async throws {}

    package func skipRetriesElsewhere(runIDs: [Int64], job: String?, reason: String, by caller: String?) async throws -> [RunRecord] { [] }

    package func retriesElsewhere(job: String) async throws -> [RetryStatus] { [] }

    package func skipQueued(job: String, reason: String, by caller: String?) async throws -> [RunRecord] { [] }

    package func replaceEarlier(job: String, slot: Date?) async throws -> [RunRecord] { [] }

    package func queueRun(job: String, node: String, triggeredBy: String?) async throws -> RunRecord {
        throw APIError(.conflict, "\"\(job)\" runs only on node \(node) (its \"node\"): ask that node's schedd")
    }

    package func countRunOutcome(job: String, failed: Bool) async throws -> Int? { nil }

    /// The ends and the starts written side by side, each as its own write.
    package func recordTurn(ends: [(run: RunRecord, outcome: RunOutcome)], starts: [RunStart]) async
        -> (ends: Result<[RunRecord?], any Error>, starts: Result<[RunStart.Outcome], any Error>) {
        async let finished = catching { ends.isEmpty ? [] : try await finishRuns(ends) }
        async let started = catching { starts.isEmpty ? [] : try await startRuns(starts) }
        return await (finished, started)
    }

    /// Records one run's start, or refuses it.
    package func startRun(_ start: RunStart) async throws -> RunStart.Outcome {
        try await startRuns([start])[0]
    }

    /// Writes one run's final status; nil when the row was not running.
    package func finishRun(_ run: RunRecord, _ outcome: RunOutcome) async throws -> RunRecord? {
        try await finishRuns([(run: run, outcome: outcome)])[0]
    }
}

/// The result of `body`, its error included.
package func catching<T: Sendable>(_ body: () async throws -> T) async -> Result<T, any Error> {
    do {
        return .success(try await body())
    } catch {
        return .failure(error)
    }
}
