import Foundation
import SchedulerAPI

/// What a store answers without changing anything: the jobs as stored and the run history.
/// The control API reads through it; only the engine holds the `SchedulerStore` that writes.
/// (Asking another node of a cluster for a run's output changes no job and no run's record.)
package protocol StoreReader: Sendable {
    /// Where the data lives, for `status` (a file's path).
    var location: String { get }
    /// Bumped by every committed write: replies cached against it stay fresh while it holds.
    var changes: ChangeCounter { get }

    /// Every job, by name; a definition that cannot be read comes back as a disabled stand-in
    /// with its `problem`.
    func jobs() async throws -> [JobInfo]
    func job(named name: String) async throws -> JobInfo?
    func jobNames() async throws -> Set<String>
    /// How many jobs are in each state, and the ones in trouble.
    func jobStateCounts() async throws -> StatusResponse.Jobs

    func run(id: Int64) async throws -> RunRecord?
    /// Runs by id, without their output.
    func runs(ids: [Int64]) async throws -> [Int64: RunRecord]
    /// Runs matching `query`, newest first.
    func history(_ query: HistoryQuery, withOutput: Bool) async throws -> [RunRecord]

    /// Lets the store drop caches it can rebuild (after a large start or reload).
    func releaseMemoryEventually()

    /// Cluster mode: asks the node that runs `runID` (or is to run it: a queued run) to write
    /// the run's output to its row as it comes, for the next few seconds (ask again to go on).
    /// False when the run is not another node's to run: it is this node's, or it has ended.
    func followOutput(runID: Int64) async throws -> Bool
    /// Cluster mode: the run's status, and its output as far as its node has written it.
    func outputSoFar(runID: Int64) async throws -> OutputSoFar?
}

extension StoreReader {
    /// A store of one node: every run is this node's.
    package func followOutput(runID: Int64) async throws -> Bool { false }
    package func outputSoFar(runID: Int64) async throws -> OutputSoFar? { nil }
}
