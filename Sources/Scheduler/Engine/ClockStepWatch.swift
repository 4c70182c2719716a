import Foundation

/// Tells when the wall clock was stepped (`date -s`, NTP stepping a clock that was far off)
/// rather than time passing: the wall clock moved by more than the monotonic one since the
/// last look. Whoever keeps deadlines as wall-clock times that mean "so long from now" (a
/// timeout, a retry's backoff) moves them by the step, so that they keep their real distance.
/// It also tells a change of the clock's local zone, which moves wall-clock times as a step
/// does for schedules read in that zone.
struct ClockStepWatch {
    private var last: (wall: Date, monotonic: Duration)?
    /// The clock's local zone at the last look (`zoneChanged`); nil before the first.
    private var lastZone: String??

    init() {}

    /// A watch that last looked at `wall` and `monotonic` with the zone `zone`: for tests.
    init(wall: Date, monotonic: Duration, zone: String?) {
        last = (wall, monotonic)
        lastZone = .some(zone)
    }

    /// The most the two clocks may part without a step: a second for the two reads and the
    /// scheduling between them, and what NTP may slew the wall clock by (at most 500 ppm).
    private static func tolerance(after passed: TimeInterval) -> TimeInterval { 1 + abs(passed) * 0.0005 }

    /// By how many seconds the wall clock was stepped while `wall` seconds of it passed and
    /// `monotonic` of real time did; nil when it was not.
    static func step(wall: TimeInterval, monotonic: Duration) -> TimeInterval? {
        let passed = Double(monotonic.milliseconds) / 1000
        let step = wall - passed
        return abs(step) > tolerance(after: passed) ? step : nil
    }

    /// By how many seconds the wall clock was stepped since the last look (negative: set back);
    /// nil when it was not, or `clock` cannot tell.
    mutating func step(_ clock: any SchedulerClock) -> TimeInterval? {
        guard let monotonic = clock.monotonicNow() else { return nil }
        let wall = clock.now()
        defer { last = (wall, monotonic) }
        guard let last else { return nil }
        return Self.step(wall: wall.timeIntervalSince(last.wall), monotonic: monotonic - last.monotonic)
    }

    /// Whether the clock's local zone changed since the last look (`timedatectl
    /// set-timezone`); the first look sees none.
    mutating func zoneChanged(_ clock: any SchedulerClock) -> Bool {
        let zone = clock.localZone()?.identifier
        defer { lastZone = .some(zone) }
        guard let lastZone else { return false }
        return lastZone != zone
    }

    /// Whether the wall clock was stepped or its zone changed since the last look: what a
    /// sleeper returns early for, and what it wakes its owner for. Both are looked at, so that
    /// each baseline moves on.
    mutating func changed(_ clock: any SchedulerClock) -> Bool {
        let stepped = step(clock) != nil
        let rezoned = zoneChanged(clock)
        return stepped || rezoned
    }
}
