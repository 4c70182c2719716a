import Foundation
import Testing

@Suite(.ownThreads) struct NextCommandTests {
    @Test func theSpringForwardExampleRunsAtTheJump() throws {
        let result = try Binaries.run(Binaries.schedctl, ["next", "30 2 * * *", "--tz", "America/New_York",
                                                          "--from", "2026-03-07T12:00:00Z", "--count", "3"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").filter { $0.hasPrefix("  ") }.map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(lines == [
            "Sun 2026-03-08 03:00:00 -04:00 EDT   2026-03-08T07:00:00.000Z",
            "Mon 2026-03-09 02:30:00 -04:00 EDT   2026-03-09T06:30:00.000Z",
            "Tue 2026-03-10 02:30:00 -04:00 EDT   2026-03-10T06:30:00.000Z",
        ])
    }

    @Test func jsonIsAnArrayOfUTCTimes() throws {
        let result = try Binaries.run(Binaries.schedctl, ["--json", "next", "@every 90s", "--from", "2026-01-01T00:00:00Z", "--count", "2"])
        #expect(result.status == 0)
        let times = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String]
        #expect(times == ["2026-01-01T00:01:30.000Z", "2026-01-01T00:03:00.000Z"])
    }

    @Test func aFromWithoutAZoneIsTheSchedulesWallTime() throws {
        // 2026-03-08 00:00 in New York is 05:00Z: the spring-forward night's 02:30 runs at 03:00.
        for from in ["2026-03-08", "2026-03-08 00:00", "2026-03-08T00:00:00"] {
            let result = try Binaries.run(Binaries.schedctl, ["--json", "next", "30 2 * * *", "--tz", "America/New_York", "--from", from, "--count", "2"])
            #expect(result.status == 0, "\(from): \(result.stderr)")
            let times = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String]
            #expect(times == ["2026-03-08T07:00:00.000Z", "2026-03-09T06:30:00.000Z"], "\(from)")
        }
        // Minutes before that midnight in New York: the 7th's 02:30 has passed, the 8th's is next.
        let before = try Binaries.run(Binaries.schedctl, ["--json", "next", "30 2 * * *", "--tz", "America/New_York", "--from", "2026-03-07 23:59", "--count", "1"])
        #expect(before.stdout.contains("2026-03-08T07:00:00.000Z"), "\(before.stdout)\(before.stderr)")
        let bad = try Binaries.run(Binaries.schedctl, ["next", "@daily", "--tz", "Europe/Berlin", "--from", "2026-02-30"])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains(#"--from "2026-02-30" is neither an ISO-8601 time"#) && bad.stderr.contains("in Europe/Berlin"), "\(bad.stderr)")
    }

    /// A job's name shows its fire times in its zone (schedd's when it names none), with its
    /// jitter and whether it is paused; a name that is no job, or a job with no schedule, says so.
    @Test func aJobsNameShowsItsFireTimes() throws {
        let d = try Daemon(jobs: #"""
            {"jobs": [{"name": "nightly", "shell": "true", "schedule": "30 2 * * *", "timezone": "America/New_York", "jitter": "5m"},
                      {"name": "minutely", "shell": "true", "schedule": "* * * * *"},
                      {"name": "svc", "shell": "sleep 60", "restart": "always"}, {"name": "adhoc", "shell": "true"}]}
            """#, extra: ["--timezone", "Asia/Tokyo"])
        let nightly = try d.ctl(["next", "nightly", "--from", "2026-03-07T12:00:00Z", "--count", "2"])
        #expect(nightly.status == 0, "\(nightly.stderr)")
        #expect(nightly.stdout.contains("Job:       nightly\n") && nightly.stdout.contains("Schedule:  30 2 * * *\n"), "\(nightly.stdout)")
        #expect(nightly.stdout.contains("Time zone: America/New_York\n") && nightly.stdout.contains("Jitter:    each fire is delayed by a random part of 5m"))
        #expect(nightly.stdout.contains("Sun 2026-03-08 03:00:00 -04:00 EDT   2026-03-08T07:00:00.000Z"), "\(nightly.stdout)")
        let json = try d.ctl(["--json", "next", "minutely", "--from", "2026-01-01T00:00:00Z", "--count", "2"])
        #expect(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String] == ["2026-01-01T00:01:00.000Z", "2026-01-01T00:02:00.000Z"])
        #expect(try d.ctl(["pause", "minutely"]).status == 0)
        let minutely = try d.ctl(["next", "minutely", "--count", "1"])
        #expect(minutely.stdout.contains("Time zone: Asia/Tokyo (schedd's, for schedules that name none)"), "\(minutely.stdout)")
        #expect(minutely.stdout.contains("Job:       minutely, paused (manual): it fires none of these until `schedctl resume minutely`"))

        let tz = try d.ctl(["next", "nightly", "--tz", "UTC"])
        #expect(tz.status == 2 && tz.stderr.contains("nightly's fire times are in its own zone, America/New_York"), "\(tz.stderr)")
        let typo = try d.ctl(["next", "nighty"])
        #expect(typo.status == 2 && typo.stderr.contains(#"nor a job: no job named "nighty" (did you mean "nightly"?)"#), "\(typo.stderr)")
        #expect(try d.ctl(["next", "svc"]).stderr.contains("svc is a service"))
        #expect(try d.ctl(["next", "adhoc"]).stderr.contains("adhoc is fired only by `schedctl run`"))
        // A schedule stays a schedule, computed without schedd.
        let offline = try Binaries.run(Binaries.schedctl, ["--socket", d.scratch.path("none.sock"), "next", "@hourly", "--count", "1"])
        #expect(offline.status == 0)
        let unreachable = try Binaries.run(Binaries.schedctl, ["--socket", d.scratch.path("none.sock"), "next", "nightly"])
        #expect(unreachable.status == 3 && unreachable.stderr.contains("schedd, which would know a job of that name, does not answer"))
    }

    @Test func badInputExitsWith2AndSaysWhy() throws {
        let bad = try Binaries.run(Binaries.schedctl, ["next", "61 * * * *"])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains(#"minute field "61": out of range 0-59"#))
        #expect(try Binaries.run(Binaries.schedctl, ["next", "@daily", "--tz", "Mars/Olympus"]).status == 2)
        #expect(try Binaries.run(Binaries.schedctl, ["next", "@daily", "--from", "tomorrow"]).status == 2)
        #expect(try Binaries.run(Binaries.schedctl, ["next", "@daily", "--count", "0"]).status == 2)
    }
}
