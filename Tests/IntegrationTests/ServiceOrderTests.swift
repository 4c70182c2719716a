import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Order, readiness and the restart rules of services, with the real `schedd` and `schedctl`.
@Suite(.ownThreads) struct ServiceOrderTests {
    /// A service that notes its start, its readiness (0.3 s later, the file its ready_check
    /// looks for, one per run: the check's SCHEDD_RUN_ID is the run's negated) and its stop in
    /// `events`, in order.
    static func service(_ name: String, in dir: String, requires: [String] = []) -> String {
        let script = "echo start \(name) >> \(dir)/events; trap 'echo stop \(name) >> \(dir)/events; exit 0' TERM; "
            + "sleep 0.3; echo ready \(name) >> \(dir)/events; touch \(dir)/\(name).ready.$SCHEDD_RUN_ID; while :; do sleep 0.05; done"
        let requirement = requires.isEmpty ? "" : #", "requires": [\#(requires.map { "\"\($0)\"" }.joined(separator: ", "))]"#
        let check = "test -f \(dir)/\(name).ready.${SCHEDD_RUN_ID#-}"
        return #"{"name": "\#(name)", "shell": "\#(script)", "restart": "always", "ready_check": "\#(check)", "ready_interval": "50ms", "kill_grace": "5s"\#(requirement)}"#
    }

    static func stack(in dir: String, extra: [String] = []) -> String {
        let jobs = [service("worker", in: dir, requires: ["app"]), service("app", in: dir, requires: ["db"]), service("db", in: dir)] + extra
        return #"{"jobs": [\#(jobs.joined(separator: ",\n"))]}"#
    }

    static func events(_ scratch: Scratch) -> [String] {
        ((try? String(contentsOfFile: scratch.path("events"), encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    static func state(_ d: Daemon, _ name: String) throws -> String {
        let list = try d.ctl(["list"]).stdout
        guard let line = list.split(separator: "\n").first(where: { $0.hasPrefix(name + " ") }) else { return "" }
        return line.dropFirst(name.count).trimmingCharacters(in: .whitespaces)
    }

    @Test func threeServicesStartInOrderEachAfterTheOneItRequiresIsReadyAndStopInReverse() throws {
        let scratch = try Scratch()
        let d = try Daemon(jobs: Self.stack(in: scratch.path("")))
        #expect(eventually(timeout: 20) { (try? Self.state(d, "worker").hasPrefix("ready")) == true }, "\((try? d.ctl(["list"]).stdout) ?? "")")
        let started = Self.events(scratch)
        #expect(started == ["start db", "ready db", "start app", "ready app", "start worker", "ready worker"], "\(started)")
        let list = try d.ctl(["list"]).stdout
        for name in ["db", "app", "worker"] { #expect(try Self.state(d, name).hasPrefix("ready"), "\(list)") }
        // Asked for in that order too: what waits at boot waits for a service that is starting,
        // not for one "stopped" because it had not been asked for yet (by name, app came first).
        let waits = d.process.stderr().split(separator: "\n").filter { $0.contains("run waits") }
        #expect(waits.count == 2 && waits.allSatisfy { $0.contains("which is starting") || $0.contains("which is waiting") }, "\(waits)")
        #expect(d.process.terminate() == 0)
        #expect(Self.events(scratch).suffix(3) == ["stop worker", "stop app", "stop db"], "\(Self.events(scratch))")
        withExtendedLifetime(scratch) {}
    }

    @Test func killingDbForGoodStopsWhatRequiresItWithTheReasonAndResumeBringsItBack() throws {
        let scratch = try Scratch()
        let dir = scratch.path("")
        // db fails for good at its first crash.
        let jobs = Self.stack(in: dir).replacingOccurrences(
            of: #""name": "db", "shell""#, with: #""name": "db", "restart_limit": {"burst": 1, "interval": "1m"}, "shell""#)
        let d = try Daemon(jobs: jobs)
        #expect(eventually(timeout: 20) { (try? Self.state(d, "worker").hasPrefix("ready")) == true })
        let db = try #require(Int32(try sqlite(d.db, "SELECT pid FROM runs WHERE job = 'db' AND status = 'running'")))
        kill(db, SIGKILL)
        #expect(eventually(timeout: 20) {
            (try? Self.state(d, "app").hasPrefix("waiting (requires db, which is failed (restart_limit))")) == true
        }, "\((try? d.ctl(["list"]).stdout) ?? "")")
        #expect(eventually(timeout: 20) { (try? Self.state(d, "worker").hasPrefix("waiting (requires app")) == true })
        #expect(try Self.state(d, "db").hasPrefix("failed (restart_limit)"))
        let stopped = try sqlite(d.db, "SELECT job || ': ' || status || ': ' || error FROM runs WHERE job IN ('app', 'worker') ORDER BY id")
        #expect(stopped.split(separator: "\n").sorted() == [
            "app: cancelled: stopped: requires db, which is failed (restart_limit)",
            "worker: cancelled: stopped: requires app, which is down (it requires db)",
        ], "\(stopped)")
        // What requires db stopped first.
        #expect(Self.events(scratch).filter { $0.hasPrefix("stop") } == ["stop worker", "stop app"], "\(Self.events(scratch))")
        let show = try d.ctl(["show", "app"]).stdout
        #expect(show.hasPrefix("app: waiting (requires db, which is failed (restart_limit))"), "\(show)")

        #expect(try d.ctl(["resume", "db"]).status == 0)
        #expect(eventually(timeout: 20) { (try? Self.state(d, "worker").hasPrefix("ready")) == true }, "\((try? d.ctl(["list"]).stdout) ?? "")")
        #expect(Self.events(scratch).filter { $0.hasPrefix("start") }.suffix(3) == ["start db", "start app", "start worker"])
        withExtendedLifetime(scratch) {}
    }

    @Test func aJobThatRequiresDbIsSkippedWhileDbRestartsAndRunsOnceItIsReady() throws {
        let scratch = try Scratch()
        let dir = scratch.path("")
        let nightly = #"{"name": "nightly", "shell": "echo report", "requires": ["db"]}"#
        let jobs = Self.stack(in: dir, extra: [nightly]).replacingOccurrences(
            of: #""name": "db", "shell""#, with: #""name": "db", "restart_delay": "3s", "shell""#)
        let d = try Daemon(jobs: jobs)
        #expect(eventually(timeout: 20) { (try? Self.state(d, "db").hasPrefix("ready")) == true })
        let db = try #require(Int32(try sqlite(d.db, "SELECT pid FROM runs WHERE job = 'db' AND status = 'running'")))
        kill(db, SIGKILL)
        #expect(eventually(timeout: 20) { (try? Self.state(d, "db").hasPrefix("restarting")) == true })
        let skipped = try d.ctl(["run", "nightly"])
        #expect(skipped.status == 1, "\(skipped.stdout) \(skipped.stderr)")
        let row = try sqlite(d.db, "SELECT status || ': ' || error FROM runs WHERE job = 'nightly'")
        #expect(row.hasPrefix("skipped: skipped: requires db, which is restarting (in "), "\(row)")
        // What requires db goes on while it merely restarts.
        #expect(try sqlite(d.db, "SELECT count(*) FROM runs WHERE job = 'app'") == "1")
        #expect(eventually(timeout: 20) { (try? Self.state(d, "db").hasPrefix("ready")) == true })
        let ran = try d.ctl(["run", "nightly", "--wait"])
        #expect(ran.status == 0 && ran.stdout == "report\n", "\(ran.stdout) \(ran.stderr)")
        withExtendedLifetime(scratch) {}
    }

    @Test func aCycleIsRefusedWithItsPathAndChangesNothing() throws {
        let d = try Daemon(jobs: #"{"jobs": [{"name": "keep", "shell": "true"}]}"#)
        let text = #"""
            {"jobs": [{"name": "a", "shell": "a", "restart": "always", "requires": ["b"]},
                      {"name": "b", "shell": "b", "restart": "always", "after": ["a"]}]}
            """#
        let file = try d.scratch.write("cycle.json", text)
        for arguments in [["validate", file], ["apply", file]] {
            let refused = try d.ctl(arguments)
            #expect(refused.status == 2, "\(arguments): \(refused.stdout) \(refused.stderr)")
            #expect(refused.stderr.contains(#"jobs[0] "a": requires: dependency cycle: a -> b -> a"#), "\(refused.stderr)")
        }
        #expect(try sqlite(d.db, "SELECT group_concat(name) FROM jobs") == "keep")
    }

    @Test func restartLimitNoneKeepsRestartingWithTheDelayGrowingToItsCap() throws {
        let d = try Daemon(jobs: #"""
            {"jobs": [{"name": "loop", "shell": "exit 1", "restart": "on-failure", "restart_limit": "none",
                       "restart_delay": "100ms", "restart_delay_max": "400ms"}]}
            """#)
        let count = { try sqlite(d.db, "SELECT count(*) FROM runs WHERE job = 'loop'") }
        #expect(eventually(timeout: 30) { (Int((try? count()) ?? "") ?? 0) >= 9 })
        // Still going (a look may catch it in the milliseconds it runs, or as its end is
        // written), never given up on.
        let state = try Self.state(d, "loop")
        #expect(["restarting", "starting", "ready"].contains { state.hasPrefix($0) }, "\(state)")
        let starts = try sqlite(d.db, "SELECT (julianday(started_at) - 2440587.5) * 86400.0 FROM runs WHERE job = 'loop' ORDER BY id LIMIT 9")
            .split(separator: "\n").compactMap { Double($0) }
        let ends = try sqlite(d.db, "SELECT (julianday(finished_at) - 2440587.5) * 86400.0 FROM runs WHERE job = 'loop' ORDER BY id LIMIT 8")
            .split(separator: "\n").compactMap { Double($0) }
        let delays = zip(starts.dropFirst(), ends).map { $0 - $1 }
        let expected = [0.1, 0.2, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4]
        // Never early (the times are in whole milliseconds); capped: a delay that kept doubling
        // would reach 0.8, 1.6, 3.2 s and more.
        #expect(delays.count == 8 && zip(delays, expected).allSatisfy { $0 >= $1 - 0.002 }, "\(delays)")
        #expect(delays.suffix(4).allSatisfy { $0 < 0.4 + 0.35 }, "\(delays)")
        #expect(try sqlite(d.db, "SELECT paused FROM job_state WHERE job = 'loop'") != "1")
    }

    @Test func restartRecordsOneStopAndOneStartAndStopStartFollowTheService() throws {
        let scratch = try Scratch()
        let d = try Daemon(jobs: Self.stack(in: scratch.path("")))
        #expect(eventually(timeout: 20) { (try? Self.state(d, "worker").hasPrefix("ready")) == true })
        let restarted = try d.ctl(["restart", "db"])
        #expect(restarted.status == 0, "\(restarted.stderr)")
        #expect(eventually(timeout: 20) {
            (try? sqlite(d.db, "SELECT group_concat(line, '; ') FROM (SELECT trigger || ' ' || status || ' ' || coalesce(error, '') AS line FROM runs WHERE job = 'db' ORDER BY id)"))
                == "boot cancelled restarted by schedctl; manual running"
        }, "\((try? sqlite(d.db, "SELECT * FROM runs WHERE job = 'db'")) ?? "")")
        #expect(eventually(timeout: 20) { (try? Self.state(d, "db").hasPrefix("ready")) == true })
        // What requires db went on.
        #expect(try sqlite(d.db, "SELECT count(*) FROM runs WHERE job IN ('app', 'worker')") == "2")

        #expect(try d.ctl(["stop", "app"]).status == 0)
        #expect(eventually(timeout: 20) { (try? Self.state(d, "app").hasPrefix("stopped (by schedctl)")) == true }, "\((try? d.ctl(["list"]).stdout) ?? "")")
        #expect(try Self.state(d, "worker").hasPrefix("waiting (requires app"))
        #expect(try d.ctl(["start", "app"]).status == 0)
        #expect(eventually(timeout: 20) { (try? Self.state(d, "worker").hasPrefix("ready")) == true }, "\((try? d.ctl(["list"]).stdout) ?? "")")
        let notService = try d.ctl(["stop", "nope"])
        #expect(notService.status == 1 && notService.stderr.contains("no job named"))
        withExtendedLifetime(scratch) {}
    }

    /// A service is one process: `schedctl run` of it, even forced, is refused and says to
    /// restart it. A reload that changes its command restarts it on the new one; one that
    /// removes it stops it.
    @Test func aReloadRestartsAServiceOnItsNewCommandAndRemovingItStopsIt() throws {
        let scratch = try Scratch()
        let versions = scratch.path("versions")
        func jobs(_ version: Int) -> String {
            #"{"jobs": [{"name": "svc", "shell": "echo \#(version) >> \#(versions); exec sleep 600", "restart": "always", "kill_grace": "5s"}]}"#
        }
        func started() -> [String] {
            ((try? String(contentsOfFile: versions, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
        let d = try Daemon(jobs: jobs(1))
        #expect(eventually(timeout: 20) { started() == ["1"] })
        let forced = try d.ctl(["run", "svc", "--force"])
        #expect(forced.status == 1)
        #expect(forced.stderr == "schedctl: svc: skipped: svc is a service and it is running as run 1; `schedctl restart svc` restarts it (run 2)\n",
                "\(forced.stderr)")
        // The list shows the process going on, not the skipped row after it.
        let state = try Self.state(d, "svc")
        #expect(state.contains("running (pid"), "\(state)")
        _ = try d.scratch.write("jobs.json", jobs(2))
        #expect(try d.ctl(["reload"]).stdout.contains("updated: svc"))
        #expect(eventually(timeout: 20) { started() == ["1", "2"] }, "\(started())")
        let history = "SELECT group_concat(line, '; ') FROM (SELECT status || ' ' || coalesce(error, '') AS line FROM runs WHERE job = 'svc' ORDER BY id)"
        #expect(eventually(timeout: 20) {
            (try? sqlite(d.db, history))?.hasPrefix("cancelled restarted: its definition changed; skipped skipped: svc is a service") == true
        }, "\((try? sqlite(d.db, history)) ?? "")")
        #expect(try sqlite(d.db, "SELECT count(*) FROM runs WHERE job = 'svc' AND status = 'running'") == "1")

        _ = try d.scratch.write("jobs.json", #"{"jobs": []}"#)
        #expect(try d.ctl(["reload"]).stdout.contains("removed: svc"))
        #expect(eventually(timeout: 20) {
            (try? sqlite(d.db, "SELECT status || ' ' || error FROM runs WHERE job = 'svc' ORDER BY id DESC LIMIT 1")) == "cancelled stopped: the service was removed"
        }, "\((try? sqlite(d.db, history)) ?? "")")
        withExtendedLifetime(scratch) {}
    }
}
