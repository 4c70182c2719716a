import Foundation
import Testing
@testable import SchedulerAPI

@Suite struct CronExpressionTests {
    func fires(_ expression: String, _ zone: String = "UTC", from: String, count: Int = 3) throws -> [String] {
        let schedule = try Schedule(parsing: expression)
        let rules = try #require(ZoneRules.named(zone))
        var cursor = try #require(Timestamp.parse(from))
        var out: [String] = []
        for _ in 0..<count {
            guard let next = schedule.next(after: cursor, in: rules) else { break }
            out.append(Timestamp.format(next))
            cursor = next
        }
        return out
    }

    @Test func theIssueExample() throws {
        #expect(try fires("30 2 * * *", "America/New_York", from: "2026-03-07T12:00:00Z") == [
            "2026-03-08T07:00:00.000Z",  // 03:00 EDT: 02:30 was skipped, it runs at the jump
            "2026-03-09T06:30:00.000Z", "2026-03-10T06:30:00.000Z",
        ])
    }

    @Test func fieldForms() throws {
        let e = try CronExpression(parsing: "0,30 9-17/4 * JAN-mar mon-FRI")
        #expect(e.minutes == 1 | 1 << 30)
        #expect(e.hours == 1 << 9 | 1 << 13 | 1 << 17)
        #expect(e.months == 1 << 1 | 1 << 2 | 1 << 3)
        #expect(e.daysOfWeek == 0b0111110)
        #expect(try CronExpression(parsing: "0 0 * * 7").daysOfWeek == 1)
        #expect(try CronExpression(parsing: "0 0 * * FRI-SUN").daysOfWeek == 1 | 1 << 5 | 1 << 6)
        #expect(try CronExpression(parsing: "5/15 * * * *").minutes == 1 << 5 | 1 << 20 | 1 << 35 | 1 << 50)
        let six = try CronExpression(parsing: "*/20 0 12 * * *")
        #expect(six.seconds == 1 | 1 << 20 | 1 << 40)
        #expect(six.isFixedTime)
        #expect(try !CronExpression(parsing: "*/5 3 * * *").isFixedTime)
        #expect(try !CronExpression(parsing: "0 */2 * * *").isFixedTime)
        #expect(try CronExpression(parsing: "0,30 1-3 * * *").isFixedTime)
    }

    @Test(arguments: [
        ("61 * * * *", #"minute field "61": out of range 0-59"#),
        ("* 24 * * *", #"hour field "24": out of range 0-23"#),
        ("* * 0 * *", #"day-of-month field "0": out of range 1-31"#),
        ("* * * 13 *", #"month field "13": out of range 1-12"#),
        ("* * * * 8", #"day-of-week field "8": out of range 0-7"#),
        ("* * * FOO *", #"month field "FOO": unknown name "FOO" (use JAN, FEB, MAR, APR, MAY, JUN, JUL, AUG, SEP, OCT, NOV, DEC)"#),
        ("*/0 * * * *", #"minute field "*/0": step "0" must be a positive number"#),
        ("30-10 * * * *", #"minute field "30-10": range start 30 is after its end 10"#),
        ("1,,2 * * * *", #"minute field "1,,2": empty list item"#),
        ("* * * *", "expected 5 fields (minute hour day-of-month month day-of-week) or 6 with a leading seconds field, got 4"),
        ("0 0 30 2 *", "day-of-month and month fields never match together (no such date)"),
        ("@every 500ms", #"@every "500ms": the interval must be at least 1s"#),
        ("@every soon", #"@every "soon": not a duration"#),
        ("0 0 L-31 * *", #"day-of-month field "L-31": "L-31" is not L (the month's last day) or L-1 … L-30 (so many days before it)"#),
        ("0 0 LW * *", #"day-of-month field "LW": "LW" is not L (the month's last day) or L-1 … L-30 (so many days before it)"#),
        ("0 0 15W * *", #"day-of-month field "15W": W (the weekday nearest a day) is not supported"#),
        ("0 0 L-29 2 *", "day-of-month and month fields never match together (no such date)"),
        ("0 0 * * L", #"day-of-week field "L": "L" needs a weekday: 5L or FRIL is the month's last Friday (L alone is for the day-of-month field)"#),
        ("0 0 * * XL", #"day-of-week field "XL": "XL": "X" is not a weekday (0-7 or SUN-SAT); 5L or FRIL is the month's last Friday"#),
        ("0 0 * * MON#6", #"day-of-week field "MON#6": "MON#6": the number after # must be 1 to 5 (MON#1 is the month's first Monday)"#),
        ("0 0 * * 8#1", #"day-of-week field "8#1": "8#1": "8" before # is not a weekday (0-7 or SUN-SAT)"#),
        ("0 0 ?? * *", #"day-of-month field "??": "??" is not a number"#),
        ("CRON_TZ=Asia/Tokyo 0 6 * * *", #"a time zone goes in the job's "timezone" ("timezone": "Asia/Tokyo"), not in the schedule"#),
        ("0 0 12 * * ? 2027", "expected 5 fields (minute hour day-of-month month day-of-week) or 6 with a leading seconds field, got 7 (a seventh, Quartz's year, is not taken)"),
        ("TZ=UTC 0 6 * * *", #"a time zone goes in the job's "timezone" ("timezone": "UTC"), not in the schedule"#),
    ])
    func rejectsWithAMessageThatNamesTheField(text: String, message: String) {
        do {
            _ = try Schedule(parsing: text)
            Issue.record("\(text) was accepted")
        } catch {
            #expect(error.message == message)
            #expect(error.code == .invalidSchedule)
        }
    }

    @Test func lastDaysNthWeekdaysAndQuestionMarks() throws {
        // 2028 is a leap year: February's last day is the 29th.
        #expect(try fires("0 0 L * *", from: "2028-01-15T00:00:00Z") == [
            "2028-01-31T00:00:00.000Z", "2028-02-29T00:00:00.000Z", "2028-03-31T00:00:00.000Z",
        ])
        #expect(try fires("0 0 L-1 2 *", from: "2027-01-01T00:00:00Z", count: 2) == [
            "2027-02-27T00:00:00.000Z", "2028-02-28T00:00:00.000Z",
        ])
        // The first Monday, not Vixie cron's "1-7 or a Monday" of `0 9 1-7 * 1`.
        #expect(try fires("0 9 * * MON#1", from: "2026-12-01T00:00:00Z") == [
            "2026-12-07T09:00:00.000Z", "2027-01-04T09:00:00.000Z", "2027-02-01T09:00:00.000Z",
        ])
        for lastFriday in ["0 18 * * 5L", "0 18 * * FRIL", "0 18 * * L5", "0 18 * * fril"] {
            #expect(try fires(lastFriday, from: "2026-12-01T00:00:00Z") == [
                "2026-12-25T18:00:00.000Z", "2027-01-29T18:00:00.000Z", "2027-02-26T18:00:00.000Z",
            ])
        }
        #expect(try fires("0 12 ? * MON-FRI", from: "2026-12-04T13:00:00Z", count: 2) == [
            "2026-12-07T12:00:00.000Z", "2026-12-08T12:00:00.000Z",
        ])
        #expect(try fires("0 0 12 15 * ?", from: "2026-12-01T00:00:00Z", count: 1) == ["2026-12-15T12:00:00.000Z"])
        // A month with no fifth Sunday is passed over, as one with no 31st is.
        #expect(try fires("0 6 * * SUN#5", from: "2026-12-01T00:00:00Z", count: 2) == [
            "2027-01-31T06:00:00.000Z", "2027-05-30T06:00:00.000Z",
        ])
    }

    @Test func sparseSchedulesAreFoundDirectly() throws {
        #expect(try fires("0 0 29 2 *", from: "2026-01-01T00:00:00Z") == [
            "2028-02-29T00:00:00.000Z", "2032-02-29T00:00:00.000Z", "2036-02-29T00:00:00.000Z",
        ])
        // Vixie cron: both day fields restricted means either matches (the 13th, or a Friday).
        #expect(try fires("0 0 13 * 5", from: "2026-11-01T00:00:00Z", count: 4) == [
            "2026-11-06T00:00:00.000Z", "2026-11-13T00:00:00.000Z", "2026-11-20T00:00:00.000Z", "2026-11-27T00:00:00.000Z",
        ])
        // One day field starred (even with a step) means both must match.
        #expect(try fires("0 0 */2 * 1", from: "2026-11-01T00:00:00Z", count: 2) == [
            "2026-11-09T00:00:00.000Z", "2026-11-23T00:00:00.000Z",
        ])
        #expect(try fires("59 59 23 31 12 *", from: "2026-12-31T23:59:59Z", count: 1) == ["2027-12-31T23:59:59.000Z"])
    }

    @Test func everyAndReboot() throws {
        // Whole multiples of the interval since the epoch, wherever one starts looking: every
        // node of a cluster computes the same slots.
        #expect(try fires("@every 1h30m", from: "2026-01-01T00:00:00.250Z", count: 2) == ["2026-01-01T01:30:00.000Z", "2026-01-01T03:00:00.000Z"])
        #expect(try fires("@every 1h30m", from: "2026-01-01T01:29:59.999Z", count: 1) == ["2026-01-01T01:30:00.000Z"])
        #expect(try fires("@every 1h30m", from: "2026-01-01T01:30:00.000Z", count: 1) == ["2026-01-01T03:00:00.000Z"])
        #expect(try fires("@every 7s", from: "2026-01-01T00:00:03Z", count: 2) == ["2026-01-01T00:00:07.000Z", "2026-01-01T00:00:14.000Z"])
        #expect(try fires("@reboot", from: "2026-01-01T00:00:00Z").isEmpty)
    }

    @Test func halfHourShiftInLordHowe() throws {
        // 2026-10-04 02:00 → 02:30 (+10:30 → +11): 02:15 does not exist.
        #expect(try fires("15 2 * * *", "Australia/Lord_Howe", from: "2026-10-03T12:00:00Z", count: 2) == [
            "2026-10-03T15:30:00.000Z", "2026-10-04T15:15:00.000Z",
        ])
        #expect(try fires("*/15 2 * * *", "Australia/Lord_Howe", from: "2026-10-03T15:00:00Z", count: 3) == [
            "2026-10-03T15:30:00.000Z", "2026-10-03T15:45:00.000Z", "2026-10-04T15:00:00.000Z",
        ])
    }

    @Test func previousFindsTheLastFireBefore() throws {
        let e = try CronExpression(parsing: "0 0 29 2 *")
        let before = try #require(Timestamp.parse("2031-06-01T00:00:00Z"))
        #expect(e.previous(before: before, in: .utc).map(Timestamp.format) == "2028-02-29T00:00:00.000Z")
    }
}
