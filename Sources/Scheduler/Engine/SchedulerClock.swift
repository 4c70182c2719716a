import Foundation
import SchedulerAPI
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The wall-clock time source of the engine. Cron is about wall-clock time, so the engine
/// sleeps until a `Date`; tests inject `ManualClock` and never wait for a schedule.
public protocol SchedulerClock: Sendable {
    func now() -> Date
    /// Returns at or after `deadline`, or earlier when the wall clock was stepped (the caller
    /// looks at the time again), or throws `CancellationError` when the task is cancelled.
    func sleep(until deadline: Date) async throws
    /// Time that passes at the rate of real time and is never set (the system's boot time
    /// clock): what tells a step of the wall clock (`date -s`, NTP stepping at boot) from time
    /// passing. Nil: this clock cannot tell, and no step is looked for.
    func monotonicNow() -> Duration?
    /// The zone the host reads its wall clock in now, for schedules that name none: the
    /// engine follows a change of it (`timedatectl set-timezone`), and a sleep returns early on
    /// one, as on a step. Nil: this clock does not tell, and the engine keeps the zone it
    /// started with.
    func localZone() -> ZoneRules?
}

extension SchedulerClock {
    public func sleep(for duration: Duration) async throws {
        try await sleep(until: now().addingTimeInterval(Double(duration.milliseconds) / 1000))
    }

    public func monotonicNow() -> Duration? { nil }

    public func localZone() -> ZoneRules? { nil }
}
