import Foundation
import SchedulerAPI
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The system clock. Long sleeps are cut into pieces of at most 30 s, so that a step of the
/// wall clock or a change of the local zone is noticed within 30 s instead of after the whole
/// sleep.
public struct SystemClock: SchedulerClock {
    public init() {}

    public func now() -> Date { Date() }

    public func sleep(until deadline: Date) async throws {
        var watch = ClockStepWatch()
        _ = watch.changed(self)
        try await sleep(until: deadline, since: watch)
    }

    /// Sleeps as `sleep(until:)`, and returns early on a step or a change of zone since
    /// `baseline` looked, not only since the sleep began: the caller looked before it slept,
    /// and a change in between would otherwise be seen by neither.
    func sleep(until deadline: Date, since baseline: ClockStepWatch) async throws {
        var watch = baseline
        while true {
            // Set back (or forward), or read in another zone, meanwhile: the deadline is looked
            // at again by the caller.
            if watch.changed(self) { return }
            let remaining = deadline.timeIntervalSinceNow
            if remaining <= 0 { return }
            try await Task.sleep(for: .milliseconds(Int64(min(remaining, 30) * 1000) + 1))
        }
    }

    public func monotonicNow() -> Duration? { Self.bootTime() }

    public func localZone() -> ZoneRules? { SystemZone.current(at: Self.bootTime()) }

    /// `CLOCK_BOOTTIME`: it goes on while the machine is suspended, so that a suspend is time
    /// passing (the wall clock moved with it), not a step.
    static func bootTime() -> Duration {
        var time = timespec()
        clock_gettime(CLOCK_BOOTTIME, &time)
        return .seconds(time.tv_sec) + .nanoseconds(time.tv_nsec)
    }
}
