import Foundation

/// The one time format of the database and the API: ISO-8601 UTC with milliseconds,
/// `2026-11-28T23:00:00.123Z`. Text in this form sorts in time order.
public enum Timestamp {
    /// Formats `date` in UTC, rounded to the nearest millisecond (so that a parsed time formats
    /// back to the same text despite floating-point error).
    public static func format(_ date: Date) -> String {
        let totalMs = Int64((date.timeIntervalSince1970 * 1000).rounded())
        let seconds = totalMs >= 0 ? totalMs / 1000 : (totalMs - 999) / 1000
        let f = CivilTime.fields(seconds)
        let millisecond = Int(totalMs - seconds * 1000)
        if (0...9999).contains(f.year) {
            // Every run writes several of these: digits straight into the string's storage.
            return String(unsafeUninitializedCapacity: 24) { bytes in
                func put(_ value: Int, _ width: Int, at offset: Int) {
                    var v = value
                    for i in stride(from: offset + width - 1, through: offset, by: -1) {
                        bytes[i] = UInt8(ascii: "0") + UInt8(v % 10)
                        v /= 10
                    }
                }
                put(Int(f.year), 4, at: 0)
                put(f.month, 2, at: 5)
                put(f.day, 2, at: 8)
                put(f.hour, 2, at: 11)
                put(f.minute, 2, at: 14)
                put(f.second, 2, at: 17)
                put(millisecond, 3, at: 20)
                bytes[4] = UInt8(ascii: "-")
                bytes[7] = UInt8(ascii: "-")
                bytes[10] = UInt8(ascii: "T")
                bytes[13] = UInt8(ascii: ":")
                bytes[16] = UInt8(ascii: ":")
                bytes[19] = UInt8(ascii: ".")
                bytes[23] = UInt8(ascii: "Z")
                return 24
            }
        }
        func pad(_ v: Int64, _ width: Int) -> String {
            let text = String(v)
            return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
        }
        return "\(pad(f.year, 4))-\(pad(Int64(f.month), 2))-\(pad(Int64(f.day), 2))T\(pad(Int64(f.hour), 2)):"
            + "\(pad(Int64(f.minute), 2)):\(pad(Int64(f.second), 2)).\(pad(totalMs - seconds * 1000, 3))Z"
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)`; also accepts a space for `T`.
    public static func parse(_ text: String) -> Date? {
        let b = Array(text.utf8)
        func num(_ from: Int, _ count: Int) -> Int64? {
            guard from + count <= b.count else { return nil }
            var v: Int64 = 0
            for i in from..<from + count {
                guard b[i] >= 0x30, b[i] <= 0x39 else { return nil }
                v = v * 10 + Int64(b[i] - 0x30)
            }
            return v
        }
        guard b.count >= 19, b[4] == 0x2D, b[7] == 0x2D, b[10] == 0x54 || b[10] == 0x20 || b[10] == 0x74,
              b[13] == 0x3A, b[16] == 0x3A,
              let year = num(0, 4), let month = num(5, 2), let day = num(8, 2),
              let hour = num(11, 2), let minute = num(14, 2), let second = num(17, 2),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        var i = 19
        var ms: Int64 = 0
        if i < b.count, b[i] == 0x2E {
            i += 1
            var digits = 0
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                if digits < 3 { ms = ms * 10 + Int64(b[i] - 0x30) }
                digits += 1
                i += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<3 where digits < 3 { ms *= 10 }
        }
        var offsetSeconds: Int64 = 0
        guard i < b.count else { return nil }
        if b[i] == 0x5A || b[i] == 0x7A {
            i += 1
        } else if b[i] == 0x2B || b[i] == 0x2D {
            let sign: Int64 = b[i] == 0x2B ? 1 : -1
            guard let oh = num(i + 1, 2) else { return nil }
            var j = i + 3
            if j < b.count, b[j] == 0x3A { j += 1 }
            guard let om = num(j, 2) else { return nil }
            offsetSeconds = sign * (oh * 3600 + om * 60)
            i = j + 2
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        let days = CivilTime.days(year: year, month: Int(month), day: Int(day))
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        return Date(timeIntervalSince1970: Double(seconds) + Double(ms) / 1000)
    }
}
