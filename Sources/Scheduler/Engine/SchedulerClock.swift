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

/// A clock that moves only when told to: for tests of schedules and policies.
public final class ManualClock: SchedulerClock {
    private struct State {
        var now: Date
        /// Moves with `advance`, not with `step`.
        var monotonic: Duration = .zero
        var nextID = 0
        var sleepsBegun = 0
        var sleepers: [Int: (deadline: Date, continuation: CheckedContinuation<Void, any Error>)] = [:]
        var zone: ZoneRules?
    }

    private let state: Mutex<State>

    public init(_ now: Date) { state = Mutex(State(now: now)) }

    public func now() -> Date { state.withLock { $0.now } }

    /// The earliest deadline anyone sleeps until.
    public var nextDeadline: Date? { state.withLock { $0.sleepers.values.map(\.deadline).min() } }

    /// How many sleeps were asked of the clock so far: what tests count to see that the engine
    /// does not start a sleep per turn.
    var sleepsBegun: Int { state.withLock { $0.sleepsBegun } }

    public func monotonicNow() -> Duration? { state.withLock { $0.monotonic } }

    /// Nil until `setLocalZone` is called.
    public func localZone() -> ZoneRules? { state.withLock { $0.zone } }

    /// Changes the host's zone (`timedatectl set-timezone`) without time passing, and wakes
    /// every sleeper, as the system clock's sleep returns early on a change.
    public func setLocalZone(_ zone: ZoneRules?) {
        let sleepers = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            state.zone = zone
            defer { state.sleepers = [:] }
            return state.sleepers.values.map(\.continuation)
        }
        sleepers.forEach { $0.resume() }
    }

    /// Moves the clock to `date` (never backwards) and wakes the sleepers that are due: time
    /// passing.
    public func advance(to date: Date) {
        let due = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            if date > state.now {
                state.monotonic += .milliseconds(Int64((date.timeIntervalSince(state.now) * 1000).rounded()))
                state.now = date
            }
            let ready = state.sleepers.filter { $0.value.deadline <= state.now }
            for id in ready.keys { state.sleepers[id] = nil }
            return ready.map(\.value.continuation)
        }
        due.forEach { $0.resume() }
    }

    public func advance(by seconds: TimeInterval) { advance(to: now().addingTimeInterval(seconds)) }

    /// Sets the wall clock `seconds` forward or back without time passing (`date -s`), and
    /// wakes every sleeper, as the system clock's sleep returns early on a step.
    public func step(by seconds: TimeInterval) {
        let sleepers = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            state.now = state.now.addingTimeInterval(seconds)
            defer { state.sleepers = [:] }
            return state.sleepers.values.map(\.continuation)
        }
        sleepers.forEach { $0.resume() }
    }

    public func sleep(until deadline: Date) async throws {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            state.sleepsBegun += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow = state.withLock { state -> Bool in
                    if deadline <= state.now || Task.isCancelled { return true }
                    state.sleepers[id] = (deadline, continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let continuation = state.withLock { $0.sleepers.removeValue(forKey: id)?.continuation }
            continuation?.resume(throwing: CancellationError())
        }
        try Task.checkCancellation()
    }
}
