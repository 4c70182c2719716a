/// A parsed cron expression: five fields (minute hour day-of-month month day-of-week), or six
/// with a leading seconds field. Each field is held as a bit set of the values it allows.
public struct CronExpression: Sendable, Hashable {
    /// Bit n set: second n (0–59) matches.
    public var seconds: UInt64
    /// Bit n set: minute n (0–59) matches.
    public var minutes: UInt64
    /// Bit n set: hour n (0–23) matches.
    public var hours: UInt32
    /// Bit n set: day n (1–31) of the month matches.
    public var daysOfMonth: UInt32
    /// Bit n set: month n (1–12) matches.
    public var months: UInt16
    /// Bit n set: weekday n (0 = Sunday … 6) matches.
    public var daysOfWeek: UInt8
    /// Whether the day-of-month field was written starting with `*`. Vixie cron: when both day
    /// fields are restricted, a day matching either fires; otherwise both must match.
    public var daysOfMonthStar: Bool
    public var daysOfWeekStar: Bool
    /// Neither the minute nor the hour field starts with `*`: such a schedule names fixed
    /// wall-clock times, and the daylight-saving rule of docs/schedules.md treats it differently.
    public var isFixedTime: Bool

    struct Field {
        let name: String
        let range: ClosedRange<Int>
        let names: [String: Int]
    }

    static let secondField = Field(name: "second", range: 0...59, names: [:])
    static let minuteField = Field(name: "minute", range: 0...59, names: [:])
    static let hourField = Field(name: "hour", range: 0...23, names: [:])
    static let dayOfMonthField = Field(name: "day-of-month", range: 1...31, names: [:])
    static let monthField = Field(
        name: "month", range: 1...12,
        names: ["jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
                "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12])
    // 7 is accepted as Sunday, as in Vixie cron; it is folded onto 0 after parsing.
    static let dayOfWeekField = Field(
        name: "day-of-week", range: 0...7,
        names: ["sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6])

    /// Parses a 5- or 6-field expression (no macros; see `Schedule.parse` for those).
    public init(parsing text: String) throws(APIError) {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard parts.count == 5 || parts.count == 6 else {
            throw APIError(.invalidSchedule,
                           "expected 5 fields (minute hour day-of-month month day-of-week) or 6 with a leading seconds field, got \(parts.count)")
        }
        let fields = parts.count == 6 ? parts : ["0"] + parts
        seconds = try Self.parseField(fields[0], Self.secondField)
        minutes = try Self.parseField(fields[1], Self.minuteField)
        hours = UInt32(try Self.parseField(fields[2], Self.hourField))
        daysOfMonth = UInt32(try Self.parseField(fields[3], Self.dayOfMonthField))
        months = UInt16(try Self.parseField(fields[4], Self.monthField))
        var dow = try Self.parseField(fields[5], Self.dayOfWeekField)
        if dow & (1 << 7) != 0 { dow = (dow | 1) & ~(1 << 7) }
        daysOfWeek = UInt8(dow)
        daysOfMonthStar = fields[3].hasPrefix("*")
        daysOfWeekStar = fields[5].hasPrefix("*")
        isFixedTime = !fields[1].hasPrefix("*") && !fields[2].hasPrefix("*")
        try checkSatisfiable()
    }

    /// Rejects day/month combinations that can never occur (`0 0 31 2 *`), so that a job never
    /// silently waits forever.
    private func checkSatisfiable() throws(APIError) {
        if !daysOfWeekStar && !daysOfMonthStar { return }  // either day field may match
        if !daysOfMonthStar || daysOfWeekStar {
            let longest: [Int] = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
            let possible = (1...12).contains { month in
                months & (1 << month) != 0 && (1...longest[month]).contains { daysOfMonth & (1 << $0) != 0 }
            }
            if !possible {
                throw APIError(.invalidSchedule, "day-of-month and month fields never match together (no such date)")
            }
        }
    }

    private static func parseField(_ text: String, _ field: Field) throws(APIError) -> UInt64 {
        func fail(_ why: String) -> APIError {
            APIError(.invalidSchedule, "\(field.name) field \"\(text)\": \(why)")
        }
        func value(_ token: Substring) throws(APIError) -> Int {
            if let n = Int(token) {
                guard field.range.contains(n) else {
                    throw fail("out of range \(field.range.lowerBound)-\(field.range.upperBound)")
                }
                return n
            }
            if let n = field.names[token.lowercased()] { return n }
            if field.names.isEmpty || token.isEmpty || token.contains(where: \.isNumber) {
                throw fail(token.isEmpty ? "empty value" : "\"\(token)\" is not a number")
            }
            let known = field.names.sorted { $0.value < $1.value }.map { $0.key.uppercased() }
            throw fail("unknown name \"\(token)\" (use \(known.joined(separator: ", ")))")
        }

        var bits: UInt64 = 0
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !item.isEmpty else { throw fail("empty list item") }
            let stepParts = item.split(separator: "/", omittingEmptySubsequences: false)
            guard stepParts.count <= 2 else { throw fail("more than one '/'") }
            var step = 1
            if stepParts.count == 2 {
                guard let s = Int(stepParts[1]), s > 0 else {
                    throw fail("step \"\(stepParts[1])\" must be a positive number")
                }
                guard s <= field.range.upperBound else {
                    throw fail("step \(s) is larger than the field's range")
                }
                step = s
            }
            let base = stepParts[0]
            var low: Int
            var high: Int
            if base == "*" {
                low = field.range.lowerBound
                high = field.range.upperBound
                if field.name == "day-of-week" { high = 6 }
            } else if let dash = base.firstIndex(of: "-") {
                low = try value(base[base.startIndex..<dash])
                high = try value(base[base.index(after: dash)...])
                // SUN-named end of a weekday range means the 7 alias ("FRI-SUN").
                if field.name == "day-of-week" && high == 0 && low > 0 { high = 7 }
                guard low <= high else { throw fail("range start \(low) is after its end \(high)") }
            } else {
                low = try value(base)
                // "5/15" means from 5 to the end of the range in steps of 15 (as croniter and
                // most crons read it).
                high = stepParts.count == 2 ? field.range.upperBound : low
                if field.name == "day-of-week" && stepParts.count == 2 { high = 6 }
            }
            for v in stride(from: low, through: high, by: step) { bits |= 1 << UInt64(v) }
        }
        return bits
    }
}
