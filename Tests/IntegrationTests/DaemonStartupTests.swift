import Foundation
import SchedulerAPI
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite(.ownThreads) struct DaemonStartupTests {
    @Test func appliesTheConfigReloadsOnSIGHUPAndStopsOnSIGTERM() throws {
        let scratch = try Scratch()
        let db = scratch.path("state/schedd.db")
        let config = try scratch.write("jobs.json", #"{"jobs": [{"name": "a", "shell": "true", "schedule": "@daily"}]}"#)
        let daemon = try DaemonProcess(["--db", db, "--config", config], log: scratch.path("schedd.log"))
        #expect(daemon.waitUntilStarted())
        #expect(eventually { (try? sqlite(db, "SELECT group_concat(name) FROM jobs")) == "a" })

        // A good file on SIGHUP is applied; a bad one is refused and changes nothing.
        _ = try scratch.write("jobs.json", #"{"jobs": [{"name": "a", "shell": "true", "schedule": "@daily"}, {"name": "b", "shell": "true"}]}"#)
        kill(daemon.process.processIdentifier, SIGHUP)
        #expect(eventually { (try? sqlite(db, "SELECT group_concat(name) FROM (SELECT name FROM jobs ORDER BY name)")) == "a,b" })
        _ = try scratch.write("jobs.json", #"{"jobs": [{"name": "c", "shell": "true", "schedule": "@weekly", "timeout": "soon"}]}"#)
        kill(daemon.process.processIdentifier, SIGHUP)
        // The barrier: the daemon's word that it refused the file, then the check that nothing
        // changed (never "nothing happened within a fixed sleep").
        #expect(eventually { daemon.stderr().contains("job file refused on reload") })
        #expect(daemon.process.isRunning)
        #expect(try sqlite(db, "SELECT group_concat(name) FROM (SELECT name FROM jobs ORDER BY name)") == "a,b")
        // `systemctl reload` cannot say it: `status` does, until a reload succeeds.
        func status() throws -> Binaries.Result { try Binaries.run(Binaries.schedctl, ["--socket", daemon.socketPath, "status"], timeout: 30) }
        let refused = try status()
        #expect(refused.status == 1)
        #expect(refused.stdout.contains("job file:  \(config)\n"), "\(refused.stdout)")
        #expect(refused.stdout.contains("health:    the job file was refused"), "\(refused.stdout)")
        #expect(refused.stdout.contains(#"jobs[0] "c": timeout: "soon" is not a duration"#), "\(refused.stdout)")

        // Replaced by a FIFO, which nobody writes: refused, and the daemon goes on answering.
        try FileManager.default.removeItem(atPath: config)
        #expect(mkfifo(config, 0o600) == 0)
        let reload = try Binaries.run(Binaries.schedctl, ["--socket", daemon.socketPath, "reload"], timeout: 30)
        #expect(reload.status == 1)
        #expect(reload.stderr.contains("it is a FIFO, not a regular file"), "\(reload.stderr)")
        let fifo = try status()
        #expect(fifo.status == 1 && fifo.stdout.contains("it is a FIFO, not a regular file"), "\(fifo.stdout)")
        try FileManager.default.removeItem(atPath: config)

        // The file is the whole set of jobs: one taken out of it is removed. A dry run of it
        // changes nothing, the refusal's word included; the reload clears it.
        _ = try scratch.write("jobs.json", #"{"jobs": [{"name": "b", "shell": "true"}]}"#)
        #expect(try Binaries.run(Binaries.schedctl, ["--socket", daemon.socketPath, "reload", "--dry-run"], timeout: 30).status == 0)
        #expect(try status().status == 1)
        kill(daemon.process.processIdentifier, SIGHUP)
        #expect(eventually { (try? sqlite(db, "SELECT group_concat(name) FROM jobs")) == "b" })
        #expect(eventually { (try? status().status) == 0 })

        #expect(daemon.terminate() == 0)
        let log = daemon.stderr()
        #expect(log.contains("job file refused on reload"))
        #expect(log.contains("schedd stopped"))
        #expect(try sqlite(db, "PRAGMA integrity_check") == "ok")
    }

    /// schedd raises its own soft limit on open files to the hard one and gives its runs the
    /// one it started with, both ways a run can be tracked (through `/proc`, a run starts
    /// through the entry program for it). Likewise SIGPIPE, which the server stack ignores: a
    /// run starts with it at its default and no signal blocked, or a job's `yes | head` would
    /// end with "Broken pipe" errors.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/prlimit"), "needs util-linux's prlimit"),
          arguments: ["auto", "proc"])
    func runsGetTheFileLimitScheddStartedWithAndDefaultSignals(tracking: String) throws {
        // A hard limit this process may set (raising one needs a privilege a container may lack).
        var limit = rlimit()
        #expect(getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0)
        let hard = min(4096, UInt64(limit.rlim_max))
        try #require(hard > 256, "the hard limit on open files is \(limit.rlim_max)")
        let scratch = try Scratch()
        let db = scratch.path("schedd.db")
        let config = try scratch.write("jobs.json", #"""
            {"jobs": [{"name": "limits", "shell": "ulimit -S -n; ulimit -H -n"},
                      {"name": "signals", "command": ["/bin/grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"]}]}
            """#)
        let daemon = try DaemonProcess(["--db", db, "--config", config, "--process-tracking", tracking], log: scratch.path("schedd.log"),
                                       launcher: ["/usr/bin/prlimit", "--nofile=256:\(hard)", "--"])
        #expect(daemon.waitUntilStarted())
        let limits = try String(contentsOfFile: "/proc/\(daemon.pid)/limits", encoding: .utf8)
        let own = limits.split(separator: "\n").first { $0.hasPrefix("Max open files") }?.split(separator: " ", omittingEmptySubsequences: true)
        #expect(own?.dropFirst(3).prefix(2) == ["\(hard)", "\(hard)"], "\(limits)")
        let ctl = { (arguments: [String]) in try Binaries.run(Binaries.schedctl, ["--socket", daemon.socketPath] + arguments) }
        let run = try ctl(["run", "limits", "--wait"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try ctl(["logs", "limits"]).stdout == "256\n\(hard)\n")
        #expect(daemon.stderr().contains("schedd.open_files=\(hard) "), "\(daemon.stderr())")
        #expect(daemon.stderr().contains("schedd.run_open_files=256"), "\(daemon.stderr())")

        func signals(_ status: String) -> (blocked: UInt64, ignored: UInt64) {
            func mask(_ field: String) -> UInt64 {
                status.split(separator: "\n").first { $0.hasPrefix(field + ":") }
                    .flatMap { UInt64($0.split(separator: "\t").last ?? "", radix: 16) } ?? .max
            }
            return (mask("SigBlk"), mask("SigIgn"))
        }
        let pipe = UInt64(1) << (SIGPIPE - 1)
        let daemonIgnores = signals(try String(contentsOfFile: "/proc/\(daemon.pid)/status", encoding: .utf8)).ignored
        #expect(daemonIgnores & pipe == pipe, "the daemon ignores \(String(daemonIgnores, radix: 16)): the check below checks nothing")
        #expect(try ctl(["run", "signals", "--wait"]).status == 0)
        let job = signals(try ctl(["logs", "signals"]).stdout)
        #expect(job.blocked == 0)
        #expect(job.ignored & pipe == 0, "the run ignores \(String(job.ignored, radix: 16))")
        #expect(daemon.terminate() == 0)
        #expect(!daemon.stderr().contains("more workers than the limit on open files"))

        // More workers than the limit lets run at once: said at the start, with how many fit.
        let many = try DaemonProcess(["--db", scratch.path("many.db"), "--socket", scratch.path("many.sock"), "--workers", "\(hard)",
                                      "--process-tracking", tracking], log: scratch.path("many.log"),
                                     launcher: ["/usr/bin/prlimit", "--nofile=256:\(hard)", "--"])
        #expect(many.waitUntilStarted())
        #expect(many.stderr().contains("more workers than the limit on open files lets run at once"), "\(many.stderr())")
        #expect(many.stderr().contains("schedd.workers_within_limit=\((hard - 100) / 5)"), "\(many.stderr())")
        #expect(many.terminate() == 0)
    }

    /// Once there is a database, a start with a bad job file (a reboot after an edit that a
    /// reload refused, say) runs the jobs the database holds, as a refused reload does, and
    /// says so in `status` until a reload applies the file. A file others may write is still
    /// refused.
    @Test func aRestartWithABadJobFileRunsTheStoredJobsAndSaysSo() throws {
        let scratch = try Scratch()
        let db = scratch.path("schedd.db")
        let config = try scratch.write("jobs.json", #"{"jobs": [{"name": "a", "shell": "echo still here"}]}"#)
        let first = try DaemonProcess(["--db", db, "--config", config], log: scratch.path("first.log"))
        #expect(first.waitUntilStarted(), "\(first.stderr())")
        #expect(first.terminate() == 0)
        for (index, (bad, error)) in [(#"{"jobs": [{"name": "a", "shel": "echo"}]}"#, #"jobs[0] "a": shel: unknown field (did you mean "shell"?)"#),
                                      (#"{"jobs": ["#, "the job file is not valid JSON")].enumerated() {
            _ = try scratch.write("jobs.json", bad)
            let again = try DaemonProcess(["--db", db, "--config", config], log: scratch.path("again\(index).log"))
            #expect(again.waitUntilStarted(), "\(again.stderr())")
            #expect(again.stderr().contains("job file refused at start; the jobs run as the database holds them"), "\(again.stderr())")
            let status = try Binaries.run(Binaries.schedctl, ["--socket", again.socketPath, "status"], timeout: 30)
            #expect(status.status == 1 && status.stdout.contains("health:    the job file was refused") && status.stdout.contains(error), "\(status.stdout)")
            let run = try Binaries.run(Binaries.schedctl, ["--socket", again.socketPath, "run", "a", "--wait"], timeout: 30)
            #expect(run.status == 0 && run.stdout == "still here\n", "\(run.stderr)")
            #expect(again.terminate() == 0)
        }
        // The file fixed: a reload applies it and clears the word.
        _ = try scratch.write("jobs.json", #"{"jobs": ["#)
        let fixed = try DaemonProcess(["--db", db, "--config", config], log: scratch.path("fixed.log"))
        #expect(fixed.waitUntilStarted(), "\(fixed.stderr())")
        _ = try scratch.write("jobs.json", #"{"jobs": [{"name": "b", "shell": "true"}]}"#)
        #expect(try Binaries.run(Binaries.schedctl, ["--socket", fixed.socketPath, "reload"], timeout: 30).status == 0)
        #expect(try Binaries.run(Binaries.schedctl, ["--socket", fixed.socketPath, "status"], timeout: 30).status == 0)
        #expect(try sqlite(db, "SELECT group_concat(name) FROM jobs") == "b")
        #expect(fixed.terminate() == 0)
        // Others may write it: not read, the start refused.
        #expect(chmod(config, 0o666) == 0)
        let open = try Binaries.run(Binaries.schedd, ["--db", db, "--config", config, "--socket", scratch.path("s.sock")], timeout: 30)
        #expect(open.status == 2 && open.stderr.contains("may be written by"), "\(open.stderr)")
    }

    @Test func aBadConfigStopsTheStartWithExit2AndNamesTheProblem() throws {
        let scratch = try Scratch()
        let config = try scratch.write("jobs.json", #"{"jobs": [{"name": "a", "shel": "true"}]}"#)
        let result = try Binaries.run(Binaries.schedd, ["--db", scratch.path("x.db"), "--config", config, "--socket", scratch.path("s.sock")])
        #expect(result.status == 2)
        #expect(result.stderr.contains(#"jobs[0] "a": shel: unknown field (did you mean "shell"?)"#))
        // A refused first start leaves nothing behind: no database, no lock, no socket.
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.url.path) == ["jobs.json"])

        // A FIFO would block the read until someone writes it: refused at once, not waited on.
        #expect(mkfifo(scratch.path("fifo.json"), 0o600) == 0)
        let fifo = try Binaries.run(Binaries.schedd, ["--db", scratch.path("x.db"), "--config", scratch.path("fifo.json"),
                                                      "--socket", scratch.path("s.sock")], timeout: 30)
        #expect(fifo.status == 2)
        #expect(fifo.stderr.contains("cannot read the job file \(scratch.path("fifo.json")): it is a FIFO, not a regular file"), "\(fifo.stderr)")

        // The system's words for what failed, not Foundation's sentence around them.
        let missing = try Binaries.run(Binaries.schedd, ["--db", scratch.path("x.db"), "--config", scratch.path("nope.json"),
                                                         "--socket", scratch.path("s.sock")], timeout: 30)
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("schedd: cannot read the job file \(scratch.path("nope.json")): No such file or directory"), "\(missing.stderr)")
        let blocked = try Binaries.run(Binaries.schedd, ["--db", scratch.path("x.db"), "--socket", scratch.path("jobs.json/run/s.sock")], timeout: 30)
        #expect(blocked.status != 0)
        #expect(blocked.stderr.contains("cannot create the socket directory \(scratch.path("jobs.json/run")): \(scratch.path("jobs.json")): Not a directory"), "\(blocked.stderr)")

        // A job file others may write, or replace, would let them run anything as schedd's user.
        let open = try scratch.write("open.json", #"{"jobs": [{"name": "a", "shell": "true"}]}"#)
        #expect(chmod(open, 0o666) == 0)
        let writable = try Binaries.run(Binaries.schedd, ["--db", scratch.path("x.db"), "--config", open, "--socket", scratch.path("s.sock")], timeout: 30)
        #expect(writable.status == 2)
        #expect(writable.stderr.contains("the job file \(open) may be written by \(geteuid() == 0 ? "its group and everyone else" : "everyone") (mode 0666)"),
                "\(writable.stderr)")
        try FileManager.default.createDirectory(atPath: scratch.path("shared"), withIntermediateDirectories: false)
        #expect(chmod(scratch.path("shared"), 0o777) == 0)
        let inShared = try scratch.write("shared/jobs.json", #"{"jobs": [{"name": "a", "shell": "true"}]}"#)
        let replaceable = try Binaries.run(Binaries.schedd, ["--db", scratch.path("x.db"), "--config", inShared, "--socket", scratch.path("s.sock")], timeout: 30)
        #expect(replaceable.status == 2 && replaceable.stderr.contains("the job file's directory \(scratch.path("shared")) may be written by"),
                "\(replaceable.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch.path("x.db")))
        // The database holds the jobs: the same for it, in a directory anyone may write.
        let sharedDatabase = try Binaries.run(Binaries.schedd, ["--db", scratch.path("shared/x.db"), "--socket", scratch.path("s.sock")], timeout: 30)
        #expect(sharedDatabase.status == 1 && sharedDatabase.stderr.contains("the database's directory \(scratch.path("shared")) may be written by"),
                "\(sharedDatabase.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch.path("shared/x.db")))
    }

    /// A socket path longer than a socket address holds is refused at once, saying so, before
    /// anything is created (it started, made its database, then failed with NIO's error name).
    @Test func aSocketPathTooLongIsRefusedBeforeAnythingIsCreated() throws {
        let scratch = try Scratch()
        let socket = scratch.path(String(repeating: "s", count: 120) + ".sock")
        let result = try Binaries.run(Binaries.schedd, ["--db", scratch.path("state/x.db"), "--socket", socket], timeout: 30)
        #expect(result.status == 2)
        #expect(result.stderr.contains("schedd: the socket path \(socket) is \(socket.utf8.count) bytes long, and a Unix socket's path may have at most 107"),
                "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.url.path).isEmpty)
        // schedctl says the same, as a usage error.
        let ctl = try Binaries.run(Binaries.schedctl, ["--socket", socket, "status"], timeout: 30)
        #expect(ctl.status == 2)
        #expect(ctl.stderr.contains("a Unix socket's path may have at most 107"), "\(ctl.stderr)")
    }

    /// Only a socket at the socket path is taken over: a file there (`--socket /etc/passwd` by
    /// mistake) was deleted, and a directory failed with NIO's error name.
    @Test func whatIsAtTheSocketPathIsKeptUnlessItIsASocket() throws {
        let scratch = try Scratch()
        let file = try scratch.write("precious.txt", "keep me\n")
        let result = try Binaries.run(Binaries.schedd, ["--db", scratch.path("x.db"), "--socket", file], timeout: 30)
        #expect(result.status == 1)
        #expect(result.stderr.contains("schedd: \(file) exists and is a regular file, not a socket: schedd does not replace it"), "\(result.stderr)")
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "keep me\n")
        try FileManager.default.createDirectory(atPath: scratch.path("dir.sock"), withIntermediateDirectories: false)
        let directory = try Binaries.run(Binaries.schedd, ["--db", scratch.path("x.db"), "--socket", scratch.path("dir.sock")], timeout: 30)
        #expect(directory.status == 1)
        #expect(directory.stderr.contains("exists and is a directory, not a socket"), "\(directory.stderr)")
        // A stale socket (nobody answers) is still replaced.
        let stale = scratch.path("stale.sock")
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        _ = UnixSocketAddress.with(stale) { bind(fd, $0, $1) }
        close(fd)
        let daemon = try DaemonProcess(["--db", scratch.path("x.db"), "--socket", stale], log: scratch.path("schedd.log"))
        #expect(daemon.waitUntilStarted())
        #expect(daemon.terminate() == 0)
    }

    /// Without --config, SIGHUP (`systemctl reload`) is said to have nothing to reload; its
    /// default action ended schedd on the spot, a run going on abandoned without its end.
    @Test func sighupWithoutAJobFileLeavesTheDaemonRunning() throws {
        let scratch = try Scratch()
        let daemon = try DaemonProcess(["--db", scratch.path("schedd.db")], log: scratch.path("schedd.log"))
        #expect(daemon.waitUntilStarted())
        kill(daemon.process.processIdentifier, SIGHUP)
        #expect(eventually { daemon.stderr().contains("SIGHUP ignored: schedd runs without --config, there is no job file to reload") }, "\(daemon.stderr())")
        #expect(daemon.process.isRunning)
        #expect(try Binaries.run(Binaries.schedctl, ["--socket", daemon.socketPath, "status"]).status == 0)
        #expect(daemon.terminate() == 0)
    }

    @Test func jsonLogsWriteNumbersAsNumbers() throws {
        let scratch = try Scratch()
        let daemon = try DaemonProcess(["--db", scratch.path("schedd.db"), "--log-format", "json", "--workers", "3"], log: scratch.path("schedd.log"))
        #expect(daemon.waitUntilStarted())
        #expect(eventually { daemon.stderr().contains("\"msg\":\"schedd started\"") })
        #expect(daemon.terminate() == 0)
        let started = daemon.stderr().split(separator: "\n").first { $0.contains("\"msg\":\"schedd started\"") } ?? ""
        #expect(started.contains("\"schedd.workers\":3"), "\(started)")
        #expect(started.contains("\"schedd.jobs\":0"), "\(started)")
        #expect(started.contains("\"schedd.db\":\"\(scratch.path("schedd.db"))\""), "\(started)")
        for line in daemon.stderr().split(separator: "\n") where line.hasPrefix("{") {
            #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) != nil, "\(line)")
        }
    }

    @Test func rowsLeftRunningByADeadDaemonBecomeInterrupted() throws {
        let scratch = try Scratch()
        let db = scratch.path("schedd.db")
        let first = try DaemonProcess(["--db", db], log: scratch.path("first.log"))
        #expect(first.waitUntilStarted())
        #expect(first.terminate() == 0)
        _ = try sqlite(db, "INSERT INTO runs (job, trigger, status, started_at) VALUES ('x', 'schedule', 'running', '2026-11-28T12:00:00.000Z')")
        let second = try DaemonProcess(["--db", db], log: scratch.path("second.log"))
        #expect(eventually { (try? sqlite(db, "SELECT status FROM runs")) == "interrupted" })
        #expect(second.terminate() == 0)
    }

    /// A database edited by hand with sqlite3: odd values are served, a job whose definition no
    /// longer validates is a health problem that names what is wrong, and a dropped table stops
    /// the start with a message saying so.
    @Test func aDatabaseEditedByHandIsServedOrRefusedNeverACrash() throws {
        let scratch = try Scratch()
        let db = scratch.path("schedd.db")
        let first = try DaemonProcess(["--db", db], log: scratch.path("first.log"))
        #expect(first.waitUntilStarted())
        let file = try scratch.write("jobs.json", #"{"jobs": [{"name": "good", "shell": "echo hi"}, {"name": "bad", "shell": "true", "schedule": "@hourly"}]}"#)
        func ctl(_ arguments: [String]) throws -> Binaries.Result {
            try Binaries.run(Binaries.schedctl, ["--socket", first.socketPath] + arguments)
        }
        #expect(try ctl(["apply", file]).status == 0)
        #expect(try ctl(["run", "good", "--wait"]).status == 0)
        #expect(first.terminate() == 0)

        _ = try sqlite(db, """
            UPDATE runs SET output = CAST(output AS BLOB) || x'ff0a', exit_code = 99999999999, triggered_by = x'00ff', duration_ms = 'long';
            UPDATE jobs SET spec = json_set(spec, '$.schedule', '61 * * * *') WHERE name = 'bad';
            """)
        let second = try DaemonProcess(["--db", db, "--socket", first.socketPath], log: scratch.path("second.log"))
        #expect(second.waitUntilStarted())
        let status = try ctl(["status"])
        #expect(status.status == 1)
        #expect(status.stdout.contains(#"bad: invalid (the stored definition of job "bad" is unreadable: the job is invalid; schedule: minute field "61""#), "\(status.stdout)")
        #expect(try ctl(["list"]).stdout.contains("invalid (schedctl show bad says why)"))
        #expect(try ctl(["show", "bad"]).stdout.contains(#"minute field "61""#))
        let history = try ctl(["history"])
        #expect(history.status == 0 && history.stdout.contains("good"), "\(history.stderr)")
        let logs = try ctl(["logs", "good"])
        #expect(logs.status == 0 && logs.stdout.contains("hi\n\u{FFFD}"), "\(logs.stdout) \(logs.stderr)")
        #expect(try ctl(["run", "good", "--wait"]).status == 0)
        #expect(second.terminate() == 0)

        _ = try sqlite(db, "DROP VIEW run_summary; ALTER TABLE runs DROP COLUMN cpu_ms;")
        let third = try Binaries.run(Binaries.schedd, ["--db", db, "--socket", scratch.path("third.sock")])
        #expect(third.status != 0)
        #expect(third.stderr.contains("the database lacks column runs.cpu_ms though its schema version is"), "\(third.stderr)")
    }

    @Test func usageErrors() throws {
        // Exit 2, as schedctl's usage errors and a bad job file (ArgumentParser's own is 64).
        #expect(try Binaries.run(Binaries.schedd, ["--history-max-age", "forever"]).status == 2)
        #expect(try Binaries.run(Binaries.schedd, ["--no-such-option"]).status == 2)
        #expect(try Binaries.run(Binaries.schedd, ["--version"]).status == 0)
        let zero = try Binaries.run(Binaries.schedd, ["--history-max-age", "0s"])
        #expect(zero.status != 0 && zero.stderr.contains("--history-max-age must be longer than 0s"), "\(zero.stderr)")
        #expect(try Binaries.run(Binaries.schedd, ["--log-level", "loud"]).status != 0)
        let zone = try Binaries.run(Binaries.schedd, ["--timezone", "Berlin"])
        #expect(zone.status != 0 && zone.stderr.contains("--timezone \"Berlin\" is not a time zone name"), "\(zone.stderr)")
        for tolerance in ["500ms", "soon"] {
            let refused = try Binaries.run(Binaries.schedd, ["--late-tolerance", tolerance])
            #expect(refused.status != 0 && refused.stderr.contains("--late-tolerance \"\(tolerance)\" is not a duration of at least 1s"), "\(refused.stderr)")
        }
        #expect(try Binaries.run(Binaries.schedd, ["--user-max-jobs=-1"]).stderr.contains("--user-max-jobs must be 0 or more"))
    }

    /// Limits of users given without --allow-users (no user may connect) are said to have no
    /// effect; with it, nothing is said.
    @Test func userLimitsWithoutAllowUsersAreSaidToHaveNoEffect() throws {
        let scratch = try Scratch()
        let warning = "limits of users have no effect without --allow-users"
        let alone = try DaemonProcess(["--db", scratch.path("a.db"), "--socket", scratch.path("a.sock"), "--user-max-jobs", "5",
                                       "--user-max-runs", "2"], log: scratch.path("a.log"))
        #expect(alone.waitUntilStarted())
        #expect(alone.terminate() == 0)
        #expect(alone.stderr().contains(warning) && alone.stderr().contains(#"schedd.options="--user-max-jobs --user-max-runs""#), "\(alone.stderr())")
        let allowed = try DaemonProcess(["--db", scratch.path("b.db"), "--socket", scratch.path("b.sock"), "--user-max-jobs", "5",
                                         "--allow-users", "all"], log: scratch.path("b.log"))
        #expect(allowed.waitUntilStarted())
        #expect(allowed.terminate() == 0)
        #expect(!allowed.stderr().contains(warning), "\(allowed.stderr())")
        let neither = try DaemonProcess(["--db", scratch.path("c.db"), "--socket", scratch.path("c.sock")], log: scratch.path("c.log"))
        #expect(neither.waitUntilStarted())
        #expect(neither.terminate() == 0)
        #expect(!neither.stderr().contains(warning))
    }
}
