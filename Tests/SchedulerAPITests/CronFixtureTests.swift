import Foundation
import Testing
@testable import SchedulerAPI

/// The cron engine against the oracle fixture that `scripts/cron-fixtures.py` generates from
/// docs/schedules.md's rules, cross-checked with croniter and systemd-analyze.
@Suite struct CronFixtureTests {
    struct Case: Decodable, Sendable, CustomTestStringConvertible {
        var expression: String
        var zone: String
        var start: String
        var expected: [String]
        var testDescription: String { "\(expression) in \(zone) from \(start)" }
    }

    struct Fixture: Decodable {
        var cases: [Case]
    }

    static let cases: [Case] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/cron-fixtures.json")
        guard let data = try? Data(contentsOf: url), let fixture = try? JSONDecoder().decode(Fixture.self, from: data) else {
            return []
        }
        return fixture.cases
    }()

    @Test func theFixtureIsThere() {
        #expect(Self.cases.count >= 300)
        let zones = Set(Self.cases.map(\.zone))
        #expect(zones.isSuperset(of: ["America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "America/Sao_Paulo"]))
    }

    @Test(arguments: cases)
    func nextFireTimesMatchTheFixture(_ c: Case) throws {
        let schedule = try Schedule(parsing: c.expression)
        let zone = try #require(ZoneRules.named(c.zone))
        var cursor = try #require(Timestamp.parse(c.start))
        var got: [String] = []
        for _ in c.expected {
            guard let next = schedule.next(after: cursor, in: zone) else { break }
            got.append(Timestamp.format(next))
            cursor = next
        }
        #expect(got == c.expected)
    }

    @Test(arguments: cases.filter { !$0.expression.hasPrefix("@") })
    func previousIsTheInverseOfNext(_ c: Case) throws {
        let expression = try CronExpression(parsing: c.expression)
        let zone = try #require(ZoneRules.named(c.zone))
        let times = c.expected.compactMap(Timestamp.parse)
        for (earlier, later) in zip(times, times.dropFirst()) {
            #expect(expression.previous(before: later, in: zone) == earlier)
        }
    }
}
