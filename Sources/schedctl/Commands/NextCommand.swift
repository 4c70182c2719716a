import ArgumentParser
import Foundation
import SchedulerAPI

struct NextCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "next",
        abstract: "Show the next fire times of a schedule, or of a job.",
        discussion: """
            Prints each fire time in the schedule's zone, with its UTC offset, and in UTC, \
            following schedd's daylight-saving rule. A schedule is computed here, without schedd; \
            a job's name asks schedd for the job's schedule, time zone and jitter. Examples:
              schedctl next '30 2 * * *' --tz America/New_York --from 2026-03-07T12:00:00Z --count 3
              schedctl next backup-db
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "A cron expression (5 or 6 fields), a macro such as @daily, @every DURATION, or a job's name.")
    var expression: String

    @Option(help: ArgumentHelp("The time zone, an IANA name (default: the system's; a job's: its own).", valueName: "zone"))
    var tz: String?

    @Option(help: ArgumentHelp("Start after this time: ISO-8601 with its zone (2026-03-07T12:00:00Z), or a date or a wall time without one (2026-03-07, \"2026-03-07 12:00\", today) read in the schedule's zone (default: now).", valueName: "time"))
    var from: String?

    @Option(help: ArgumentHelp("How many fire times to show (1-1000).", valueName: "n"))
    var count: Int = 5

    func run() async throws {
        guard (1...1000).contains(count) else { throw CommandFailure.usage("--count must be between 1 and 1000") }
        let schedule: Schedule
        var job: JobSchedule?
        do {
            schedule = try Schedule(parsing: expression)
        } catch {
            // No schedule has one word that does not begin with "@": that is a job's name.
            guard !expression.hasPrefix("@"), !expression.contains(where: { $0 == " " || $0 == "\t" }) else {
                throw CommandFailure.usage("schedule \"\(expression)\": \(error.message)")
            }
            let found = try lookUp(job: expression, notASchedule: error.message)
            schedule = found.schedule
            job = found
        }
        if let job, let tz, tz != job.zone {
            throw CommandFailure.usage("--tz \(tz): \(expression)'s fire times are in its own zone, \(job.zone); give its schedule instead of its name for another")
        }
        let zoneName = job?.zone ?? tz ?? TimeZone.current.identifier
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
        if let job {
            print("Job:       \(expression)\(job.held.map { ", \($0)" } ?? "")")
            print("Schedule:  \(job.text)")
        } else {
            print("Schedule:  \(expression)")
        }
        if case .cron = schedule { print("DST rule:  \(rule)") }
        print("Time zone: \(zoneName)\(job?.zoneIsDaemons == true ? " (schedd's, for schedules that name none)" : "")")
        if let jitter = job?.jitter { print("Jitter:    each fire is delayed by a random part of \(jitter)") }
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

    /// What of a job its fire times come from.
    struct JobSchedule {
        var schedule: Schedule
        var text: String
        var zone: String
        /// The job names no zone: it follows schedd's.
        var zoneIsDaemons: Bool
        var jitter: String?
        /// Why it does not fire now (paused, disabled), and until what.
        var held: String?
    }

    /// The schedule of the job named `name`, from schedd. `notASchedule` is why the name is no
    /// schedule, said when no job has it either.
    func lookUp(job name: String, notASchedule: String) throws -> JobSchedule {
        let client = global.client
        let path = "/v1/jobs/\(ControlClient.escape(name))"
        let reply: ControlClient.Reply
        do {
            reply = try client.send("GET", path)
        } catch let failure as CommandFailure where failure.exitCode == 3 {
            throw CommandFailure(message: "\"\(name)\" is no schedule (\(notASchedule)), and schedd, which would know a job of that name, does not answer: \(failure.message)", exitCode: 3)
        }
        if reply.status == 404 {
            throw CommandFailure(message: "\"\(name)\" is neither a schedule (\(notASchedule)) nor a job: \(ControlClient.failure(reply).message)", exitCode: 2)
        }
        let detail = try ControlClient.decoded(reply, as: JobDetail.self)
        let spec = detail.job.spec
        guard let text = spec.schedule else {
            let what = spec.isService ? "a service: it runs from schedd's start, with no schedule" : "fired only by `schedctl run` or another job's on_failure/on_success: it has no schedule"
            throw CommandFailure(message: "\(name) is \(what)", exitCode: 1)
        }
        let schedule: Schedule
        do {
            schedule = try Schedule(parsing: text)
        } catch {
            throw CommandFailure(message: "\(name)'s schedule \"\(text)\": \(error.message)", exitCode: 1)
        }
        var zone = spec.timezone
        if zone == nil {
            zone = try client.call("GET", "/v1/status", as: StatusResponse.self).timeZone
        }
        var held: String?
        if detail.job.state.paused {
            held = "paused (\(detail.job.state.pauseReason ?? "manual")): it fires none of these until `schedctl resume \(name)`"
        } else if !spec.isEnabled {
            held = "disabled: it fires none of these while its \"enabled\" is false"
        }
        return JobSchedule(schedule: schedule, text: text, zone: zone ?? TimeZone.current.identifier, zoneIsDaemons: spec.timezone == nil,
                           jitter: spec.jitter.flatMap { $0 > .zero ? DurationText.format(milliseconds: $0.milliseconds) : nil }, held: held)
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
