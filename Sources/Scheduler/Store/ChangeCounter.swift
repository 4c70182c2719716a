import GRDB
import Synchronization

/// Counts the database's committed writes, so that a reply computed from it (the job list,
/// the job counts of `status`) can be kept until the next write instead of being read again
/// for every request.
///
/// Bumped after the write returns: a caller that waits for its write and then asks again
/// always sees the change.
public final class ChangeCounter: Sendable {
    private let count = Atomic<UInt64>(0)

    package init() {}

    /// The number of writes so far.
    public var current: UInt64 { count.load(ordering: .acquiring) }

    package func bump() { count.add(1, ordering: .releasing) }

    /// Runs a write transaction on `pool` and counts it (failed writes too: a spurious bump
    /// only costs a recomputation).
    func write<T: Sendable>(_ pool: DatabasePool, _ updates: @escaping @Sendable (Database) throws -> T) async throws -> T {
        defer { bump() }
        return try await pool.write(updates)
    }
}
