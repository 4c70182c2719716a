/// Parsing and formatting of the duration strings used in job files: `500ms`, `90s`, `5m`,
/// `1h30m`, `2d`. Units may be combined, largest first; each number may have a fraction
/// (`1.5h`).
public enum DurationText {
    private static let units: [(suffix: String, milliseconds: Double)] = [
        ("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000),
    ]

    /// The longest duration taken: 100 years (36500d), far past any timeout, interval or age
    /// anyone means, and short of what a date can hold.
    public static let maximumMilliseconds: Int64 = 100 * 365 * 86_400_000

    /// The duration in milliseconds, or nil when `text` is not a duration or is longer than
    /// `maximumMilliseconds` (`isTooLong` tells which).
    public static func milliseconds(_ text: String) -> Int64? {
        guard let total = parse(text), total < Double(maximumMilliseconds) else { return nil }
        return Int64(total.rounded())
    }

    /// Whether `text` is a well-formed duration longer than `maximumMilliseconds`: worth
    /// saying so rather than "not a duration".
    public static func isTooLong(_ text: String) -> Bool {
        parse(text).map { $0 >= Double(maximumMilliseconds) } ?? false
    }

    /// What an error says of a duration that is too long.
    public static let tooLongProblem = "longer than the maximum of 36500d (100 years)"

    private static func parse(_ text: String) -> Double? {
        let chars = Array(text.utf8)
        guard !chars.isEmpty else { return nil }
        var i = 0
        var total: Double = 0
        var lastUnitRank = Int.max
        while i < chars.count {
            let numberStart = i
            var sawDot = false
            while i < chars.count, (chars[i] >= UInt8(ascii: "0") && chars[i] <= UInt8(ascii: "9")) || (!sawDot && chars[i] == UInt8(ascii: ".")) {
                if chars[i] == UInt8(ascii: ".") { sawDot = true }
                i += 1
            }
            guard i > numberStart, let number = Double(String(decoding: chars[numberStart..<i], as: UTF8.self)) else {
                return nil
            }
            let unitStart = i
            while i < chars.count, chars[i] >= UInt8(ascii: "a"), chars[i] <= UInt8(ascii: "z") { i += 1 }
            let suffix = String(decoding: chars[unitStart..<i], as: UTF8.self)
            guard let rank = units.firstIndex(where: { $0.suffix == suffix }) else { return nil }
            // Units must go from largest to smallest, each at most once ("1h30m", not "30m1h").
            guard rank < lastUnitRank else { return nil }
            lastUnitRank = rank
            total += number * units[rank].milliseconds
        }
        return total.isFinite ? total : .infinity
    }

    /// Canonical text for a number of milliseconds: `1h30m`, `90ms`, `0s`.
    public static func format(milliseconds: Int64) -> String {
        if milliseconds == 0 { return "0s" }
        var rest = milliseconds
        var out = ""
        for (suffix, size) in units.reversed() {
            let unit = Int64(size)
            if rest >= unit {
                out += "\(rest / unit)\(suffix)"
                rest %= unit
            }
        }
        return out
    }

    /// A guess at what the user meant, for error messages: `"5 minutes"` → `"5m"`.
    public static func suggestion(for text: String) -> String? {
        let lowered = text.lowercased().replacingOccurrences(of: " ", with: "")
        let words: [(String, String)] = [
            ("milliseconds", "ms"), ("millisecond", "ms"), ("msec", "ms"),
            ("seconds", "s"), ("second", "s"), ("secs", "s"), ("sec", "s"),
            ("minutes", "m"), ("minute", "m"), ("mins", "m"), ("min", "m"),
            ("hours", "h"), ("hour", "h"), ("hrs", "h"), ("hr", "h"),
            ("days", "d"), ("day", "d"),
        ]
        var candidate = lowered
        for (word, unit) in words {
            candidate = candidate.replacingOccurrences(of: word, with: unit)
        }
        if candidate != text, milliseconds(candidate) != nil { return candidate }
        if Double(text) != nil { return "\(text)s" }
        return nil
    }
}
