import ArgumentParser
import Foundation
import SchedulerAPI

struct NextCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "next",
        abstract: "Show the next fire times of a schedule (offline).",
        discussion: """
            Prints each fire time in the schedule's zone, with its UTC offset, and in UTC, \
            following schedd's daylight-saving rule. Example:
              schedctl next '30 2 * * *' --tz America/New_York --from 2026-03-07T12:00:00Z --count 3
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "A cron expression (5 or 6 fields), a macro such as @daily, or @every DURATION.")
    var expression: String

    @Option(help: ArgumentHelp("The time zone, an IANA name (default: the system's).", valueName: "zone"))
    var tz: String?

    @Option(help: ArgumentHelp("Start after this time: ISO-8601 with its zone (2026-03-07T12:00:00Z), or a date or a wall time without one (2026-03-07, \"2026-03-07 12:00\") read in the schedule's zone (default: now).", valueName: "time"))
    var from: String?

    @Option(help: ArgumentHelp("How many fire times to show (1-1000).", valueName: "n"))
    var count: Int = 5

    func run() async throws {
        guard (1...1000).contains(count) else { throw CommandFailure.usage("--count must be between 1 and 1000") }
        let zoneName = tz ?? TimeZone.current.identifier
        guard let zone = ZoneRules.named(zoneName), let foundationZone = TimeZone(identifier: zoneName) else {
            throw CommandFailure.usage("unknown time zone \"\(zoneName)\"; use an IANA name such as Europe/Berlin")
        }
        var start = Date()
        if let from {
            // A wall time without a zone is the schedule's, as the times below are shown.
            guard let parsed = Timestamp.parse(from) ?? SinceText.localTime(from, in: foundationZone) else {
                throw CommandFailure.usage("--from \"\(from)\" is neither an ISO-8601 time such as 2026-03-07T12:00:00Z nor a date or wall time in \(zoneName) such as 2026-03-07 or \"2026-03-07 12:00\"")
            }
            start = parsed
        }
        let schedule: Schedule
        do {
            schedule = try Schedule(parsing: expression)
        } catch {
            throw CommandFailure.usage("schedule \"\(expression)\": \(error.message)")
        }
        var times: [Date] = []
        var cursor = start
        while times.count < count, let next = schedule.next(after: cursor, in: zone) {
            times.append(next)
            cursor = next
        }
        if global.json {
            Output.printJSON(.array(times.map { .string(Timestamp.format($0)) }))
            return
        }
        if case .reboot = schedule {
            print("@reboot fires once each time schedd starts; it has no calendar times.")
            return
        }
        let rule = schedule.isFixedTime
            ? "fixed time: a time skipped by a DST jump runs at the jump, a repeated time runs once"
            : "wildcard: fires at every matching wall-clock time; skipped times do not fire, repeated ones fire twice"
        print("Schedule:  \(expression)")
        if case .cron = schedule { print("DST rule:  \(rule)") }
        print("Time zone: \(zoneName)")
        print("From:      \(Timestamp.format(start))")
        if times.isEmpty { print("(no fire time within 400 years)") }
        let abbreviations = DateFormatter()
        abbreviations.locale = Locale(identifier: "en_US")
        abbreviations.timeZone = foundationZone
        abbreviations.dateFormat = "zzz"
        for time in times {
            print("  \(Self.local(time, zone: zone, abbreviations: abbreviations))   \(Timestamp.format(time))")
        }
    }

    /// `Sun 2026-03-08 03:00:00 -04:00 EDT`
    static func local(_ date: Date, zone: ZoneRules, abbreviations: DateFormatter) -> String {
        let instant = Int64(date.timeIntervalSince1970.rounded(.down))
        let offset = zone.offset(at: instant)
        let wall = instant + offset
        let days = wall >= 0 ? wall / 86_400 : (wall - 86_399) / 86_400
        let dayNames = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let weekday = dayNames[Int(((days + 4) % 7 + 7) % 7)]
        let stamp = Timestamp.format(Date(timeIntervalSince1970: Double(wall)))
        let h = abs(offset) / 3600, m = abs(offset) / 60 % 60
        let offsetText = "\(offset < 0 ? "-" : "+")\(h < 10 ? "0" : "")\(h):\(m < 10 ? "0" : "")\(m)"
        var text = "\(weekday) \(stamp.prefix(10)) \(stamp.dropFirst(11).prefix(8)) \(offsetText)"
        // ICU knows names like EDT for some zones only; "GMT+1" would repeat the offset.
        let abbreviation = abbreviations.string(from: date)
        if !abbreviation.hasPrefix("GMT") && !abbreviation.hasPrefix("UTC") { text += " \(abbreviation)" }
        return text
    }
}
