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

    @Test func badInputExitsWith2AndSaysWhy() throws {
        let bad = try Binaries.run(Binaries.schedctl, ["next", "61 * * * *"])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains(#"minute field "61": out of range 0-59"#))
        #expect(try Binaries.run(Binaries.schedctl, ["next", "@daily", "--tz", "Mars/Olympus"]).status == 2)
        #expect(try Binaries.run(Binaries.schedctl, ["next", "@daily", "--from", "tomorrow"]).status == 2)
        #expect(try Binaries.run(Binaries.schedctl, ["next", "@daily", "--count", "0"]).status == 2)
    }
}
