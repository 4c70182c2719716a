import Foundation
import Testing
@testable import Scheduler
import SchedulerAPI

/// The host's time zone changed while the engine runs (`timedatectl set-timezone`): schedules
/// that name no zone follow it; those that name one, and an engine told its zone, do not.
@Suite struct LocalZoneTests {
    let handlers: [String: JobHandler] = ["ok": { _ in }]
    /// 02:30 UTC on a Tuesday; New York is on daylight time (UTC−4) since March 8.
    let start = Timestamp.parse("2026-03-10T02:30:00.000Z")!
    let jobs = #"""
        {"jobs": [
          {"name": "local", "handler": "ok", "schedule": "0 3 * * *"},
          {"name": "utc", "handler": "ok", "schedule": "0 3 * * *", "timezone": "UTC"},
          {"name": "tick", "handler": "ok", "schedule": "@every 24h"}
        ]}
        """#
    /// The engine follows the clock's zone.
    let following = JobScheduler.Configuration(workers: 4, shutdownGrace: .seconds(5))

    @Test func theZoneIsReadFromTheSystemSetting() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("schedd-test-zone-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let localtime = folder.appendingPathComponent("localtime").path
        let timezone = folder.appendingPathComponent("timezone").path
        let system = SystemZone(localtime: localtime, timezoneFile: timezone, environmentTZ: nil)
        #expect(system.identifier() == nil)
        // As `timedatectl set-timezone` leaves it: a link into the zone database.
        try FileManager.default.createSymbolicLink(atPath: localtime, withDestinationPath: "/usr/share/zoneinfo/Europe/Berlin")
        #expect(system.identifier() == "Europe/Berlin")
        try FileManager.default.removeItem(atPath: localtime)
        try FileManager.default.createSymbolicLink(atPath: localtime, withDestinationPath: "../usr/share/zoneinfo/posix/Asia/Kolkata")
        #expect(system.rules()?.identifier == "Asia/Kolkata")
        // A copy of a zone file says nothing by itself: `/etc/timezone` names it.
        try FileManager.default.removeItem(atPath: localtime)
        try Data("TZif".utf8).write(to: URL(fileURLWithPath: localtime))
        try Data("America/New_York\n".utf8).write(to: URL(fileURLWithPath: timezone))
        #expect(system.identifier() == "America/New_York")
        // `TZ` wins, in both of glibc's forms; a POSIX rule has no zone name to follow.
        #expect(SystemZone(localtime: localtime, timezoneFile: timezone, environmentTZ: ":Asia/Tokyo").identifier() == "Asia/Tokyo")
        #expect(SystemZone(localtime: localtime, timezoneFile: timezone, environmentTZ: "Europe/Paris").identifier() == "Europe/Paris")
        #expect(SystemZone(localtime: localtime, timezoneFile: timezone, environmentTZ: "CET-1CEST,M3.5.0,M10.5.0/3").identifier() == nil)
        #expect(SystemZone.zoneName(fromPath: "/usr/share/zoneinfo/Not/AZone") == nil)
    }

    /// UTC to New York at 02:30 UTC: the job without a zone runs at 03:00 New York (07:00 UTC),
    /// not at 03:00 UTC; the job that names UTC does.
    @Test func aScheduleWithoutAZoneFollowsTheHostsZone() async throws {
        let clock = ManualClock(start)
        clock.setLocalZone(.utc)
        try await withEngine(jobs: jobs, handlers: handlers, clock: clock, configuration: following) { engine, log, db in
            #expect(try await db.job(named: "local")?.state.nextRunAt == Timestamp.parse("2026-03-10T03:00:00.000Z"))
            let tick = try await db.job(named: "tick")?.state.nextRunAt
            // The engine asleep until its next slot: the change is what wakes it.
            try await waitFor("the engine to sleep") { clock.nextDeadline == Timestamp.parse("2026-03-10T03:00:00.000Z") }
            clock.setLocalZone(ZoneRules.named("America/New_York"))
            try await waitFor("the engine to see the change") { await engine.zoneChangesSeen == 1 }
            await engine.untilIdle()
            #expect(try await db.job(named: "local")?.state.nextRunAt == Timestamp.parse("2026-03-10T07:00:00.000Z"))
            #expect(try await db.job(named: "utc")?.state.nextRunAt == Timestamp.parse("2026-03-10T03:00:00.000Z"))
            clock.advance(to: Timestamp.parse("2026-03-10T03:00:00.000Z")!)
            try await waitFor("the job in UTC") { await log.finished.count == 1 }
            await engine.untilIdle()
            #expect(await log.finished.map(\.job) == ["utc"])
            clock.advance(to: Timestamp.parse("2026-03-10T07:00:00.000Z")!)
            try await waitFor("the job in the host's zone") { await log.finished.count == 2 }
            let local = try #require(await log.finished.last)
            #expect(local.job == "local")
            #expect(local.scheduledAt == Timestamp.parse("2026-03-10T07:00:00.000Z"))
            // An interval does not depend on a zone: its slot stays.
            #expect(tick != nil)
            #expect(try await db.job(named: "tick")?.state.nextRunAt == tick)
        }
    }

    /// UTC to Tokyo at 02:30 UTC (11:30 in Tokyo): today's 03:00 there has passed, but it was
    /// not missed — the daemon ran, in another zone — so nothing catches up; the next run is
    /// tomorrow's 03:00 Tokyo (18:00 UTC today).
    @Test func aTimeAlreadyPassedInTheNewZoneIsNotCaughtUp() async throws {
        let clock = ManualClock(start)
        clock.setLocalZone(.utc)
        try await withEngine(jobs: jobs, handlers: handlers, clock: clock, configuration: following) { engine, log, db in
            try await waitFor("the engine to sleep") { clock.nextDeadline == Timestamp.parse("2026-03-10T03:00:00.000Z") }
            clock.setLocalZone(ZoneRules.named("Asia/Tokyo"))
            try await waitFor("the engine to see the change") { await engine.zoneChangesSeen == 1 }
            await engine.untilIdle()
            #expect(await log.finished.isEmpty)
            #expect(try await db.job(named: "local")?.state.nextRunAt == Timestamp.parse("2026-03-10T18:00:00.000Z"))
        }
    }

    /// A zone set from outside (the cluster's, from its database) moves the slots of jobs
    /// that name none at once, and from then on the host's zone is not followed.
    @Test func aZoneSetFromOutsideIsUsedAndKept() async throws {
        let clock = ManualClock(start)
        clock.setLocalZone(.utc)
        try await withEngine(jobs: jobs, handlers: handlers, clock: clock, configuration: following) { engine, log, db in
            await engine.useDefaultZone("Asia/Tokyo")
            #expect(await engine.zoneChangesSeen == 1)
            #expect(await engine.load().timeZone == "Asia/Tokyo")
            #expect(try await db.job(named: "local")?.state.nextRunAt == Timestamp.parse("2026-03-10T18:00:00.000Z"))
            // A name this engine does not know changes nothing.
            await engine.useDefaultZone("Mars/Olympus_Mons")
            #expect(await engine.load().timeZone == "Asia/Tokyo")
            clock.setLocalZone(ZoneRules.named("America/New_York"))
            _ = try await engine.runNow("utc")
            try await waitFor("the run") { await log.finished.count == 1 }
            await engine.untilIdle()
            #expect(await engine.zoneChangesSeen == 1)
            #expect(try await db.job(named: "local")?.state.nextRunAt == Timestamp.parse("2026-03-10T18:00:00.000Z"))
        }
    }

    /// An engine told its zone (`defaultTimeZone`, `schedd --timezone`) keeps it.
    @Test func aZoneGivenToTheEngineIsKept() async throws {
        let clock = ManualClock(start)
        clock.setLocalZone(.utc)
        let pinned = JobScheduler.Configuration(workers: 4, shutdownGrace: .seconds(5), defaultTimeZone: "Asia/Tokyo")
        try await withEngine(jobs: jobs, handlers: handlers, clock: clock, configuration: pinned) { engine, log, db in
            #expect(try await db.job(named: "local")?.state.nextRunAt == Timestamp.parse("2026-03-10T18:00:00.000Z"))
            clock.setLocalZone(ZoneRules.named("America/New_York"))
            // A run asked for after the change takes turns of the engine, each of which looks at
            // the zone first: after it has ended, a change would have been seen.
            _ = try await engine.runNow("utc")
            try await waitFor("the run") { await log.finished.count == 1 }
            await engine.untilIdle()
            #expect(await engine.zoneChangesSeen == 0)
            #expect(try await db.job(named: "local")?.state.nextRunAt == Timestamp.parse("2026-03-10T18:00:00.000Z"))
        }
    }
}
