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
    /// Bit k set: the day k days before the month's last (`L` is bit 0, `L-3` bit 3).
    public var lastDaysOfMonth: UInt32
    /// Bit `8 * w + n` set: the n-th (1–5) weekday w (0 = Sunday … 6) of the month (`MON#1`).
    public var nthWeekdays: UInt64
    /// Bit w set: the month's last weekday w (`5L`, `FRIL`).
    public var lastWeekdays: UInt8
    /// Whether the day-of-month field was written starting with `*` (or is `?`). Vixie cron: when both day
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
                           "expected 5 fields (minute hour day-of-month month day-of-week) or 6 with a leading seconds field, got \(parts.count)"
                           + (parts.count == 7 ? " (a seventh, Quartz's year, is not taken)" : ""))
        }
        let fields = parts.count == 6 ? parts : ["0"] + parts
        seconds = try Self.parseField(fields[0], Self.secondField)
        minutes = try Self.parseField(fields[1], Self.minuteField)
        hours = UInt32(try Self.parseField(fields[2], Self.hourField))
        months = UInt16(try Self.parseField(fields[4], Self.monthField))
        // "?" is Quartz's and Spring's "no particular day" in a day field: any day, as "*".
        let dayOfMonthText = fields[3] == "?" ? "*" : fields[3]
        let dayOfWeekText = fields[5] == "?" ? "*" : fields[5]
        var lastDays: UInt32 = 0
        daysOfMonth = UInt32(try Self.parseField(dayOfMonthText, Self.dayOfMonthField) { item throws(APIError) in
            guard let k = try Self.lastDayOffset(item, field: dayOfMonthText) else { return false }
            lastDays |= 1 << UInt32(k)
            return true
        })
        lastDaysOfMonth = lastDays
        var nth: UInt64 = 0
        var lastWeekdays: UInt8 = 0
        var dow = try Self.parseField(dayOfWeekText, Self.dayOfWeekField) { item throws(APIError) in
            if let (weekday, n) = try Self.nthWeekday(item, field: dayOfWeekText) {
                nth |= 1 << UInt64(8 * weekday + n)
                return true
            }
            if let weekday = try Self.lastWeekday(item, field: dayOfWeekText) {
                lastWeekdays |= 1 << UInt8(weekday)
                return true
            }
            return false
        }
        if dow & (1 << 7) != 0 { dow = (dow | 1) & ~(1 << 7) }
        daysOfWeek = UInt8(dow)
        nthWeekdays = nth
        self.lastWeekdays = lastWeekdays
        daysOfMonthStar = dayOfMonthText.hasPrefix("*")
        daysOfWeekStar = dayOfWeekText.hasPrefix("*")
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
                months & (1 << month) != 0
                    && ((1...longest[month]).contains { daysOfMonth & (1 << $0) != 0 }
                        || (0..<longest[month]).contains { lastDaysOfMonth & (1 << $0) != 0 })
            }
            if !possible {
                throw APIError(.invalidSchedule, "day-of-month and month fields never match together (no such date)")
            }
        }
    }

    /// `L` (0) or `L-k` (k) in the day-of-month field; nil for any other item.
    private static func lastDayOffset(_ item: Substring, field text: String) throws(APIError) -> Int? {
        guard item.first == "L" || item.first == "l" else { return nil }
        let rest = item.dropFirst()
        if rest.isEmpty { return 0 }
        guard rest.first == "-", let k = Int(rest.dropFirst()), (0...30).contains(k) else {
            throw APIError(.invalidSchedule, "day-of-month field \"\(text)\": \"\(item)\" is not L (the month's last day) or L-1 … L-30 (so many days before it)")
        }
        return k
    }

    /// `WEEKDAY#n` in the day-of-week field: the n-th such weekday of the month.
    private static func nthWeekday(_ item: Substring, field text: String) throws(APIError) -> (Int, Int)? {
        guard let hash = item.firstIndex(of: "#") else { return nil }
        func fail(_ why: String) -> APIError {
            APIError(.invalidSchedule, "day-of-week field \"\(text)\": \"\(item)\": \(why)")
        }
        guard let weekday = Self.weekday(item[..<hash]) else {
            throw fail("\"\(item[..<hash])\" before # is not a weekday (0-7 or SUN-SAT)")
        }
        guard let n = Int(item[item.index(after: hash)...]), (1...5).contains(n) else {
            throw fail("the number after # must be 1 to 5 (MON#1 is the month's first Monday)")
        }
        return (weekday, n)
    }

    /// `5L`, `FRIL` (Quartz, Spring) or `L5`, `LFRI` (croniter): the month's last such weekday.
    private static func lastWeekday(_ item: Substring, field text: String) throws(APIError) -> Int? {
        let upper = item.uppercased()
        guard upper.count > 1, upper.hasSuffix("L") || upper.hasPrefix("L") else {
            if upper == "L" {
                throw APIError(.invalidSchedule, "day-of-week field \"\(text)\": \"L\" needs a weekday: 5L or FRIL is the month's last Friday (L alone is for the day-of-month field)")
            }
            return nil
        }
        let name = upper.hasSuffix("L") ? upper.dropLast() : upper.dropFirst()
        guard let weekday = Self.weekday(name) else {
            throw APIError(.invalidSchedule, "day-of-week field \"\(text)\": \"\(item)\": \"\(name)\" is not a weekday (0-7 or SUN-SAT); 5L or FRIL is the month's last Friday")
        }
        return weekday
    }

    /// A weekday by number (0–7, 7 being Sunday) or name; nil for anything else.
    private static func weekday(_ token: some StringProtocol) -> Int? {
        if let n = Int(token) { return (0...7).contains(n) ? n % 7 : nil }
        return dayOfWeekField.names[token.lowercased()]
    }

    /// The bits of a field's values. `special` takes a list item first and says whether it
    /// consumed it (the day fields' `L` and `#` forms).
    private static func parseField(
        _ text: String, _ field: Field,
        special: (Substring) throws(APIError) -> Bool = { _ in false }
    ) throws(APIError) -> UInt64 {
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
            if field.name == "day-of-month" && token.uppercased().hasSuffix("W") {
                throw fail("W (the weekday nearest a day) is not supported")
            }
            if field.names.isEmpty || token.isEmpty || token.contains(where: \.isNumber) {
                throw fail(token.isEmpty ? "empty value" : "\"\(token)\" is not a number")
            }
            let known = field.names.sorted { $0.value < $1.value }.map { $0.key.uppercased() }
            throw fail("unknown name \"\(token)\" (use \(known.joined(separator: ", ")))")
        }

        var bits: UInt64 = 0
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !item.isEmpty else { throw fail("empty list item") }
            if try special(item) { continue }
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
