/// When a job fires: a cron expression, a fixed interval, or once per daemon start.
public enum Schedule: Sendable, Hashable {
    case cron(CronExpression)
    /// `@every 30s`: fixed interval in milliseconds; its slots are the whole multiples of it since
    /// 1970-01-01 UTC, so that every node of a cluster, and every restart, agrees on them.
    case every(milliseconds: Int64)
    /// `@reboot`: once each time the daemon starts.
    case reboot

    static let macros: [String: String] = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
        "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
        "@hourly": "0 * * * *",
    ]

    /// Spaces and tabs cut from both ends. (Foundation's `trimmingCharacters` goes through
    /// NSString and was a tenth of the start-up time with 10,000 jobs.)
    static func trimmed(_ text: some StringProtocol) -> String {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = text.firstIndex(where: { !blank($0) }), let last = text.lastIndex(where: { !blank($0) }) else { return "" }
        return String(text[first...last])
    }

    /// Schedules parsed so far, by text: with 10,000 jobs each schedule is parsed when the
    /// file is validated, when its definition is read back and when the engine loads it, and
    /// most jobs share a few schedules.
    private static let parsed = TextKeyedCache<Schedule>(limit: 20_000)

    /// Parses any schedule docs/schedules.md describes: cron, macros, `@every DURATION`, `@reboot`.
    public init(parsing raw: String) throws(APIError) {
        if let known = Self.parsed[raw] {
            self = known
            return
        }
        self = try Self.parse(raw)
        Self.parsed.insert(self, for: raw)
    }

    private static func parse(_ raw: String) throws(APIError) -> Schedule {
        let text = Self.trimmed(raw)
        guard !text.isEmpty else { throw APIError(.invalidSchedule, "the schedule is empty") }
        // robfig/cron's and cronie's prefix: the zone is a field of its own here.
        for prefix in ["CRON_TZ=", "TZ="] where text.uppercased().hasPrefix(prefix) {
            let zone = text.dropFirst(prefix.count).prefix { $0 != " " && $0 != "\t" }
            throw APIError(.invalidSchedule, "a time zone goes in the job's \"timezone\" (\"timezone\": \"\(zone)\"), not in the schedule")
        }
        if text.hasPrefix("@") {
            let lowered = text.lowercased()
            if lowered == "@reboot" {
                return .reboot
            } else if lowered.hasPrefix("@every") {
                let arg = Self.trimmed(text.dropFirst("@every".count))
                guard let ms = DurationText.milliseconds(arg) else {
                    if DurationText.isTooLong(arg) { throw APIError(.invalidSchedule, "@every \"\(arg)\": the interval is \(DurationText.tooLongProblem)") }
                    let hint = DurationText.suggestion(for: arg).map { " (try \"@every \($0)\")" } ?? ""
                    throw APIError(.invalidSchedule, "@every \"\(arg)\": not a duration\(hint)")
                }
                guard ms >= 1000 else { throw APIError(.invalidSchedule, "@every \"\(arg)\": the interval must be at least 1s") }
                return .every(milliseconds: ms)
            } else if let expanded = Self.macros[lowered] {
                return .cron(try CronExpression(parsing: expanded))
            } else {
                let names = (Self.macros.keys.sorted() + ["@every", "@reboot"]).joined(separator: " ")
                throw APIError(.invalidSchedule, "unknown macro \"\(text)\" (known: \(names))")
            }
        } else {
            return .cron(try CronExpression(parsing: text))
        }
    }
}

import Foundation
import Synchronization

extension Schedule {
    /// The next fire time strictly after `date`: for `@every`, the next whole multiple of the
    /// interval since 1970-01-01 UTC; `@reboot` has no next time.
    public func next(after date: Date, in zone: ZoneRules) -> Date? {
        switch self {
        case let .cron(expression): return expression.next(after: date, in: zone)
        case let .every(milliseconds):
            // In whole milliseconds, so that a slot read back from a store is on the grid.
            let now = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
            let slot = (now.quotientAndRemainder(dividingBy: milliseconds).quotient + (now >= 0 ? 1 : 0)) * milliseconds
            return Date(timeIntervalSince1970: Double(slot) / 1000)
        case .reboot: return nil
        }
    }

    /// The shortest time between two fires, in milliseconds; nil for `@reboot` or a schedule
    /// with fewer than two fires. A cron schedule's is the least gap between its first 128
    /// fires after 2001-01-01 UTC, enough for the gaps of its fields to recur (a month's
    /// end, a leap day); in UTC, so the hour daylight saving takes from a gap twice a year
    /// is not counted.
    public var shortestInterval: Int64? {
        switch self {
        case let .every(milliseconds): return milliseconds
        case .reboot: return nil
        case .cron:
            if let known = Self.shortestIntervals.withLock({ $0[self] }) { return known }
            var previous: Date?
            var cursor = Date(timeIntervalSince1970: 978_307_200)
            var shortest: Int64?
            for _ in 0..<128 {
                guard let next = next(after: cursor, in: .utc) else { break }
                if let previous {
                    let gap = Int64(((next.timeIntervalSince1970 - previous.timeIntervalSince1970) * 1000).rounded())
                    shortest = min(shortest ?? gap, gap)
                }
                previous = next
                cursor = next
            }
            Self.shortestIntervals.withLock { cache in
                if cache.count >= 4_096 { cache.removeAll() }
                cache[self] = .some(shortest)
            }
            return shortest
        }
    }

    private static let shortestIntervals = Mutex<[Schedule: Int64?]>([:])

    /// Whether docs/schedules.md's fixed-time daylight-saving rule applies (else the wildcard rule).
    public var isFixedTime: Bool {
        if case let .cron(expression) = self { return expression.isFixedTime }
        return false
    }
}
