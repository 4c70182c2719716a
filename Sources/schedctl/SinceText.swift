import Foundation
import SchedulerAPI

/// What `history --since` takes: a duration back from now (`24h`), an ISO-8601 time with its
/// zone (`2026-12-06T07:00:00Z`), a date or a time without one (`2026-12-06`,
/// `2026-12-06 07:00`), or `today` or `yesterday` (from midnight), read in this machine's time
/// zone as `history --wide` shows times.
enum SinceText {
    /// The value to send as the API's `since`, or nil when `text` is none of these.
    static func resolve(_ text: String, in zone: TimeZone = .current) -> String? {
        if DurationText.milliseconds(text) != nil || Timestamp.parse(text) != nil { return text }
        return localTime(text, in: zone).map(Timestamp.format)
    }

    /// `YYYY-MM-DD`, or `YYYY-MM-DD` then `T` or a space and `HH:MM` or `HH:MM:SS`, in `zone`;
    /// `today` and `yesterday` are their midnights there (as journalctl reads them).
    static func localTime(_ text: String, in zone: TimeZone, now: Date = Date()) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        switch text.lowercased() {
        case "today": return calendar.startOfDay(for: now)
        case "yesterday": return calendar.date(byAdding: .day, value: -1, to: calendar.startOfDay(for: now))
        default: break
        }
        let b = Array(text.utf8)
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= b.count else { return nil }
            var value = 0
            for byte in b[from..<from + count] {
                guard (0x30...0x39).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 0x30)
            }
            return value
        }
        guard [10, 16, 19].contains(b.count), b[4] == 0x2D, b[7] == 0x2D,
              let year = number(0, 4), let month = number(5, 2), let day = number(8, 2) else { return nil }
        var components = DateComponents(year: year, month: month, day: day, hour: 0, minute: 0, second: 0)
        if b.count > 10 {
            guard b[10] == 0x54 || b[10] == 0x20, b[13] == 0x3A, let hour = number(11, 2), let minute = number(14, 2) else { return nil }
            components.hour = hour
            components.minute = minute
            if b.count == 19 {
                guard b[16] == 0x3A, let second = number(17, 2) else { return nil }
                components.second = second
            }
        }
        // Refuses what the calendar would roll over (February 30th, 24:00) instead of reading it.
        guard components.isValidDate(in: calendar), let date = calendar.date(from: components) else { return nil }
        return date
    }
}
