import Foundation
import SchedulerAPI

/// What a store answers without changing anything: the jobs as stored and the run history.
/// The control API reads through it; only the engine holds the `SchedulerStore` that writes.
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
}
