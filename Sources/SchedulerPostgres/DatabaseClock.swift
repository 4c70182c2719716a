import Foundation
import Scheduler
import Synchronization

/// The engine's clock on a cluster node: this machine's clock corrected by its offset from
/// the database's, as the last lease renewal measured it. Slots are then due by the
/// database's time, so a node whose clock is off neither fires early nor late (the store
/// refuses a slot that is still ahead, whatever this clock says).
public final class DatabaseClock: SchedulerClock {
    private let offsetMs = Atomic<Int64>(0)

    public init() {}

    /// The database's clock minus this machine's, in milliseconds.
    public var offset: Int64 { offsetMs.load(ordering: .relaxed) }

    func setOffset(_ milliseconds: Int) { offsetMs.store(Int64(milliseconds), ordering: .relaxed) }

    public func now() -> Date { Date().addingTimeInterval(Double(offset) / 1000) }

    public func monotonicNow() -> Duration? { SystemClock().monotonicNow() }

    /// Sleeps in pieces of at most a second, so that a new offset (or a jump of the wall
    /// clock) is taken into account soon.
    public func sleep(until deadline: Date) async throws {
        while true {
            let remaining = deadline.timeIntervalSince(now())
            if remaining <= 0 { return }
            try await Task.sleep(for: .milliseconds(Int64(min(remaining, 1) * 1000) + 1))
        }
    }
}
