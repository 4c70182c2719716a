import Foundation

extension CronExpression {
    /// The next fire time strictly after `date`, in the zone `zone`, following docs/schedules.md's
    /// daylight-saving rule; nil when there is none within 400 years.
    public func next(after date: Date, in zone: ZoneRules) -> Date? {
        let after = Int64(date.timeIntervalSince1970.rounded(.down))
        let next = isFixedTime ? nextFixed(after: after, zone) : nextWildcard(after: after, zone)
        return next.map { Date(timeIntervalSince1970: Double($0)) }
    }

    /// The latest fire time strictly before `date`; nil when there is none within 400 years.
    public func previous(before date: Date, in zone: ZoneRules) -> Date? {
        let before = Int64(date.timeIntervalSince1970.rounded(.up))
        // Search back in growing windows with the forward computation, which is the definition.
        var window: Int64 = 60
        while window < 400 * 366 * 86_400 {
            let start = before - window
            var cursor = start - 1
            var last: Int64?
            while let n = isFixedTime ? nextFixed(after: cursor, zone) : nextWildcard(after: cursor, zone), n < before {
                last = n
                cursor = n
            }
            if let last { return Date(timeIntervalSince1970: Double(last)) }
            window *= 4
        }
        return nil
    }

    /// Fixed-time schedules: every matching wall time fires once, at its first occurrence; a
    /// wall time skipped by a jump forward fires at the jump. This maps wall times to instants
    /// monotonically, so the answer is the first matching wall time whose instant is after
    /// `after`.
    func nextFixed(after: Int64, _ zone: ZoneRules) -> Int64? {
        var local = after + zone.offset(at: after)
        for _ in 0..<100_000 {
            guard let wall = nextMatch(atOrAfter: local) else { return nil }
            let instant: Int64
            switch zone.resolve(local: wall) {
            case let .exists(first, _): instant = first
            case let .skipped(jump): instant = jump
            }
            if instant > after { return instant }
            local = wall + 1
        }
        return nil
    }

    /// Wildcard schedules fire at every instant whose wall-clock time matches: within each span
    /// of constant offset, wall time and instant move together.
    func nextWildcard(after: Int64, _ zone: ZoneRules) -> Int64? {
        var start = after + 1
        for _ in 0..<10_000 {
            let offset = zone.offset(at: start)
            let end = zone.nextTransition(after: start)
            guard let wall = nextMatch(atOrAfter: start + offset) else { return nil }
            let instant = wall - offset
            if end == nil || instant < end! { return instant }
            start = end!
        }
        return nil
    }

    /// The first wall time (local seconds) at or after `local` that matches every field,
    /// computed field by field.
    func nextMatch(atOrAfter local: Int64) -> Int64? {
        var f = CivilTime.fields(local)
        let lastYear = f.year + 400
        while f.year <= lastYear {
            // Month.
            if months & (1 << UInt16(f.month)) == 0 {
                guard let m = Self.nextBit(UInt64(months), from: f.month + 1, limit: 12) else {
                    f = CivilTime.Fields(year: f.year + 1, month: Self.nextBit(UInt64(months), from: 1, limit: 12)!, day: 1, hour: 0, minute: 0, second: 0)
                    continue
                }
                f = CivilTime.Fields(year: f.year, month: m, day: 1, hour: 0, minute: 0, second: 0)
            }
            // Day.
            let dim = CivilTime.daysInMonth(year: f.year, month: f.month)
            var day = f.day
            while day <= dim && !dayMatches(year: f.year, month: f.month, day: day) {
                if !daysOfWeekStar || daysOfMonthStar || lastDaysOfMonth != 0 {
                    day += 1
                } else {
                    day = Self.nextBit(UInt64(daysOfMonth), from: day + 1, limit: 31) ?? 32
                }
            }
            if day > dim {
                f = Self.startOfNextMonth(f)
                continue
            }
            if day != f.day { f.day = day; f.hour = 0; f.minute = 0; f.second = 0 }
            // Hour.
            guard let h = Self.nextBit(UInt64(hours), from: f.hour, limit: 23) else {
                f = Self.startOfNextDay(f)
                continue
            }
            if h != f.hour { f.hour = h; f.minute = 0; f.second = 0 }
            // Minute.
            guard let m = Self.nextBit(minutes, from: f.minute, limit: 59) else {
                f.minute = 0; f.second = 0
                if f.hour == 23 { f = Self.startOfNextDay(f) } else { f.hour += 1 }
                continue
            }
            if m != f.minute { f.minute = m; f.second = 0 }
            // Second.
            guard let s = Self.nextBit(seconds, from: f.second, limit: 59) else {
                f.second = 0
                if f.minute == 59 {
                    f.minute = 0
                    if f.hour == 23 { f = Self.startOfNextDay(f) } else { f.hour += 1 }
                } else {
                    f.minute += 1
                }
                continue
            }
            f.second = s
            return CivilTime.local(f)
        }
        return nil
    }

    /// Vixie cron: when either day field starts with `*`, both must match (the starred one
    /// matches any day it allows); when both are restricted, either may match.
    @inline(__always)
    func dayMatches(year: Int64, month: Int, day: Int) -> Bool {
        var dom = daysOfMonth & (1 << UInt32(day)) != 0
        let weekday = CivilTime.weekday(year: year, month: month, day: day)
        var dow = daysOfWeek & (1 << UInt8(weekday)) != 0
        if !dom && lastDaysOfMonth != 0 {
            dom = lastDaysOfMonth & (1 << UInt32(CivilTime.daysInMonth(year: year, month: month) - day)) != 0
        }
        if !dow && nthWeekdays != 0 {
            dow = nthWeekdays & (1 << UInt64(8 * weekday + (day - 1) / 7 + 1)) != 0
        }
        if !dow && lastWeekdays & (1 << UInt8(weekday)) != 0 {
            dow = day + 7 > CivilTime.daysInMonth(year: year, month: month)
        }
        return daysOfMonthStar || daysOfWeekStar ? dom && dow : dom || dow
    }

    /// The lowest set bit at or above `from`, if it is at most `limit`.
    @inline(__always)
    static func nextBit(_ bits: UInt64, from: Int, limit: Int) -> Int? {
        guard from <= limit, from < 64 else { return nil }
        let shifted = bits >> UInt64(from)
        guard shifted != 0 else { return nil }
        let bit = from + shifted.trailingZeroBitCount
        return bit <= limit ? bit : nil
    }

    static func startOfNextDay(_ f: CivilTime.Fields) -> CivilTime.Fields {
        if f.day < CivilTime.daysInMonth(year: f.year, month: f.month) {
            return CivilTime.Fields(year: f.year, month: f.month, day: f.day + 1, hour: 0, minute: 0, second: 0)
        }
        return startOfNextMonth(f)
    }

    static func startOfNextMonth(_ f: CivilTime.Fields) -> CivilTime.Fields {
        f.month == 12
            ? CivilTime.Fields(year: f.year + 1, month: 1, day: 1, hour: 0, minute: 0, second: 0)
            : CivilTime.Fields(year: f.year, month: f.month + 1, day: 1, hour: 0, minute: 0, second: 0)
    }
}
