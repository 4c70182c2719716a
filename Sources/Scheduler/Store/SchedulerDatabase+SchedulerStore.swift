import Foundation
import SchedulerAPI

/// The SQLite store: its writes go through one group commit, which commits them in the order
/// they were queued; so a fire queued before its run's start is committed with it or before.
extension SchedulerDatabase: SchedulerStore {
    package var location: String { path }

    package func jobs() async throws -> [JobInfo] { try await jobs.all() }

    package func job(named name: String) async throws -> JobInfo? { try await jobs.job(named: name) }

    package func jobNames() async throws -> Set<String> { try await jobs.names() }

    package func jobStateCounts() async throws -> StatusResponse.Jobs { try await jobs.stateCounts() }

    package func run(id: Int64) async throws -> RunRecord? { try await runs.run(id: id) }

    package func runs(ids: [Int64]) async throws -> [Int64: RunRecord] { try await runs.runs(ids: ids) }

    package func history(_ query: HistoryQuery, withOutput: Bool) async throws -> [RunRecord] {
        try await runs.history(query, withOutput: withOutput)
    }

    package func applyJobs(_ file: JobFile, prune: Bool, dryRun: Bool, now: Date, source: Data?, origin: JobOrigin,
                           protectedFile: String?) async throws -> ApplyResult {
        try await jobs.apply(file, prune: prune, dryRun: dryRun, now: now, source: source, origin: origin, protectedFile: protectedFile)
    }

    package func unchangedJobs(since source: Data) async throws -> [String]? { try await jobs.unchangedJobs(since: source) }

    package func jobNames(keptByPruneOf origin: JobOrigin.Kind, protectedFile: String?) async throws -> Set<String> {
        try await jobs.names(keptByPruneOf: origin, protectedFile: protectedFile)
    }

    package func removeJob(named name: String, protectedFile: String?) async throws {
        try await jobs.remove(named: name, protectedFile: protectedFile)
    }

    package func saveStates(_ states: [(name: String, state: JobState)]) async throws { try await jobs.saveStates(states) }

    package func recordFires(_ states: [(name: String, state: JobState)]) -> StoreWrite? { jobs.queueStates(states) }

    package func interruptLeftovers(at now: Date) async throws -> [RunRecord] { try await runs.interruptLeftovers(at: now) }

    package func startRuns(_ starts: [RunStart]) async throws -> [RunStart.Outcome] {
        // Queued after their fires, so committed with them or after them.
        try await confirmFires(of: starts, try await runs.insert(starts.map { $0.record(id: 0) }))
    }

    /// Ends and starts in one transaction.
    package func recordTurn(ends: [(run: RunRecord, outcome: RunOutcome)], starts: [RunStart]) async
        -> (ends: Result<[RunRecord?], any Error>, starts: Result<[RunStart.Outcome], any Error>) {
        if ends.isEmpty { return (.success([]), await catching { try await startRuns(starts) }) }
        if starts.isEmpty { return (await catching { try await finishRuns(ends) }, .success([])) }
        let (finished, inserted) = await runs.finishAndInsert(ends, starts.map { $0.record(id: 0) })
        return (finished, await catching { try await confirmFires(of: starts, try inserted.get()) })
    }

    /// The outcomes of starts whose rows are committed, once their fires are; if a fire failed,
    /// its error, and the rows say the runs did not start.
    private func confirmFires(of starts: [RunStart], _ records: [RunRecord]) async throws -> [RunStart.Outcome] {
        for start in starts {
            do {
                // Committed by then; waiting reports a fire that failed.
                try await start.fire?.wait()
            } catch {
                // The runs do not start, and their rows say why rather than staying `running`.
                // If even that fails, the next start marks the rows interrupted.
                let outcome = RunOutcome(status: .failed, finishedAt: start.startedAt, error: "not started: its fire could not be recorded (\(error))")
                _ = try? await runs.finish(records.map { (run: $0, outcome: outcome) })
                throw error
            }
        }
        return records.map(RunStart.Outcome.started)
    }

    package func setPID(_ id: Int64, pid: Int32) async throws { try await runs.setPID(id, pid: pid) }

    package func finishRuns(_ ends: [(run: RunRecord, outcome: RunOutcome)]) async throws -> [RunRecord?] { try await runs.finish(ends) }

    package func recordSkipped(_ skips: [RunSkip]) async throws -> [RunRecord] { try await runs.recordSkipped(skips) }

    package func setRetries(_ marks: [(runID: Int64, due: Date?)]) async throws { try await runs.setRetries(marks) }
    package func setRetry(runID: Int64, due: Date, onNode node: String) async throws { try await runs.setRetries([(runID, due)]) }

    package func pendingRetries() async throws -> [(run: RunRecord, due: Date)] { try await runs.pendingRetries() }

    package func setPoliciesPending(_ runIDs: [Int64], _ pending: Bool) async throws { try await runs.setPoliciesPending(runIDs, pending) }

    package func pendingPolicies() async throws -> [RunRecord] { try await runs.pendingPolicies() }

    package func pruneHistory(keepPerJob: Int?, olderThan: Date?) async throws -> Int {
        try await runs.prune(keepPerJob: keepPerJob, olderThan: olderThan)
    }
}
