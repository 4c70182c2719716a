import Foundation
import Testing
@testable import SchedulerAPI

@Suite struct DurationAndSizeTests {
    @Test(arguments: [
        ("500ms", 500), ("90s", 90_000), ("5m", 300_000), ("1h30m", 5_400_000), ("2d", 172_800_000),
        ("1.5h", 5_400_000), ("1h1m1s1ms", 3_661_001), ("0s", 0),
    ] as [(String, Int64)])
    func parsesDurations(text: String, ms: Int64) {
        #expect(DurationText.milliseconds(text) == ms)
    }

    @Test(arguments: ["", "5", "5 minutes", "m5", "30m1h", "1h1h", "-5s", "5x", "1..5s", "99999999d"])
    func rejectsNonDurations(text: String) {
        #expect(DurationText.milliseconds(text) == nil)
    }

    /// A duration past the maximum is refused as too long, not as "not a duration".
    @Test func aDurationPastTheMaximumIsTooLong() throws {
        let longest: Int64 = 36_499 * 86_400_000
        #expect(DurationText.milliseconds("36499d") == longest)
        for text in ["36500d", "99999999d", "1000000h"] {
            #expect(DurationText.milliseconds(text) == nil)
            #expect(DurationText.isTooLong(text), "\(text)")
        }
        for text in ["5x", "", "5 minutes", "36499d"] { #expect(!DurationText.isTooLong(text), "\(text)") }
        let file = #"{"jobs": [{"name": "a", "shell": "true", "timeout": "1000000h", "schedule": "@every 99999999d"}]}"#
        #expect { _ = try JobFile(data: Data(file.utf8), context: ValidationContext(runningAsRoot: true)) } throws: { error in
            let text = "\(error)"
            return text.contains(#"timeout: "1000000h" is longer than the maximum of 36500d (100 years)"#)
                && text.contains(#"@every "99999999d": the interval is longer than the maximum of 36500d (100 years)"#)
        }
    }

    @Test func formatsCanonically() {
        #expect(DurationText.format(milliseconds: 5_400_000) == "1h30m")
        #expect(DurationText.format(milliseconds: 90_000) == "1m30s")
        #expect(DurationText.format(milliseconds: 500) == "500ms")
        #expect(DurationText.format(milliseconds: 0) == "0s")
        #expect(DurationText.format(milliseconds: 86_400_000 + 1) == "1d1ms")
        for ms: Int64 in [1, 999, 1000, 61_000, 3_600_000, 90_061_001] {
            #expect(DurationText.milliseconds(DurationText.format(milliseconds: ms)) == ms)
        }
    }

    @Test func suggestsTheShortForm() {
        #expect(DurationText.suggestion(for: "5 minutes") == "5m")
        #expect(DurationText.suggestion(for: "1 hour 30 minutes") == "1h30m")
        #expect(DurationText.suggestion(for: "90") == "90s")
        #expect(DurationText.suggestion(for: "soon") == nil)
    }

    @Test func parsesAndFormatsSizes() {
        #expect(ByteSize.bytes("64KiB") == 65_536)
        #expect(ByteSize.bytes("1MiB") == 1_048_576)
        #expect(ByteSize.bytes("10KB") == 10_000)
        #expect(ByteSize.bytes("512B") == 512)
        #expect(ByteSize.bytes("4096") == 4096)
        #expect(ByteSize.bytes("lots") == nil)
        #expect(ByteSize.bytes("-1KiB") == nil)
        #expect(ByteSize.bytes("99999999999999GiB") == nil)
        #expect(ByteSize.format(bytes: 65_536) == "64KiB")
        #expect(ByteSize.format(bytes: 1000) == "1000B")
    }

    @Test func timestampsRoundTripWithMilliseconds() {
        let text = "2026-11-28T23:00:00.123Z"
        let date = Timestamp.parse(text)
        #expect(date != nil)
        #expect(date.map(Timestamp.format) == text)
        #expect(Timestamp.parse("2026-03-08T03:00:00-04:00").map(Timestamp.format) == "2026-03-08T07:00:00.000Z")
        #expect(Timestamp.parse("1969-12-31T23:59:59.999Z").map(Timestamp.format) == "1969-12-31T23:59:59.999Z")
        #expect(Timestamp.parse("2024-02-29T12:00:00Z").map(Timestamp.format) == "2024-02-29T12:00:00.000Z")
        #expect(Timestamp.parse("2026-13-01T00:00:00Z") == nil)
        #expect(Timestamp.parse("yesterday") == nil)
    }

    @Test func timestampsFormatLikeFoundationAcrossTheYears() {
        let reference = ISO8601DateFormatter()
        reference.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        reference.timeZone = TimeZone(identifier: "UTC")
        var generator = SystemRandomNumberGenerator()
        // Whole milliseconds from 1583 (Foundation's calendar is Julian before 1582; ours, like
        // SQLite's, is Gregorian throughout) to 9999, and the edges.
        let edges: [Int64] = [0, -1, 1, -12_212_553_600_000, 253_402_300_799_999, 951_782_400_000, 4_107_456_000_000]
        let samples = edges + (0..<5_000).map { _ in Int64.random(in: -12_212_553_600_000...253_402_300_799_999, using: &generator) }
        for ms in samples {
            let date = Date(timeIntervalSince1970: Double(ms) / 1000)
            #expect(Timestamp.format(date) == reference.string(from: date), "\(ms)")
            #expect(Timestamp.parse(Timestamp.format(date)).map(Timestamp.format) == Timestamp.format(date))
        }
    }
}
