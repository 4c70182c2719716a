/// Calendar arithmetic on "local seconds": seconds since 1970-01-01T00:00:00 of a wall clock,
/// with no time zone. Proleptic Gregorian, as cron and ISO-8601 use.
enum CivilTime {
    struct Fields: Equatable {
        var year: Int64
        var month: Int  // 1...12
        var day: Int  // 1...31
        var hour: Int
        var minute: Int
        var second: Int
    }

    /// Days since 1970-01-01 of a date (Howard Hinnant's days_from_civil).
    static func days(year: Int64, month: Int, day: Int) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = Int64((month + 9) % 12)
        let doy = (153 * mp + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func fields(_ local: Int64) -> Fields {
        var days = local >= 0 ? local / 86_400 : (local - 86_399) / 86_400
        let secondOfDay = Int(local - days * 86_400)
        days += 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let doe = days - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = Int(doy - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        return Fields(year: year, month: month, day: day, hour: secondOfDay / 3600,
                      minute: secondOfDay / 60 % 60, second: secondOfDay % 60)
    }

    static func local(_ f: Fields) -> Int64 {
        days(year: f.year, month: f.month, day: f.day) * 86_400 + Int64(f.hour * 3600 + f.minute * 60 + f.second)
    }

    static func isLeap(_ year: Int64) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    static func daysInMonth(year: Int64, month: Int) -> Int {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// 0 = Sunday … 6 = Saturday.
    static func weekday(year: Int64, month: Int, day: Int) -> Int {
        let d = days(year: year, month: month, day: day)
        let w = (d + 4) % 7  // 1970-01-01 was a Thursday
        return Int(w >= 0 ? w : w + 7)
    }
}
