import Foundation
import Testing

/// Pids of processes whose command line is exactly `argv`.
func processes(running argv: [String]) -> [pid_t] {
    let wanted = Array(argv.joined(separator: "\0").utf8) + [0]
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { name in
        guard let pid = pid_t(name), let data = FileManager.default.contents(atPath: "/proc/\(name)/cmdline") else { return nil }
        return Array(data) == wanted ? pid : nil
    }
}

@Suite(.ownThreads) struct CrashRecoveryTests {
    @Test func killMinus9MidRunLosesNoRecordAndLeavesNoProcess() throws {
        let scratch = try Scratch()
        let db = scratch.path("schedd.db")
        // Only the first run sleeps, so that the run of the second start is told apart.
        let config = try scratch.write("jobs.json", #"""
            {"jobs": [{"name": "long", "shell": "if [ \"$SCHEDD_RUN_ID\" = 1 ]; then exec sleep 3713; fi; echo second", "schedule": "@reboot"}]}
            """#)
        let first = try DaemonProcess(["--db", db, "--config", config], log: scratch.path("first.log"))
        #expect(eventually { (try? sqlite(db, "SELECT status FROM runs WHERE id = 1")) == "running" })
        #expect(eventually { !processes(running: ["sleep", "3713"]).isEmpty })
        first.crash()
        // Nothing on Linux stops a dead daemon's children: the run's process is still there.
        #expect(!processes(running: ["sleep", "3713"]).isEmpty)

        let second = try DaemonProcess(["--db", db, "--config", config], log: scratch.path("second.log"))
        #expect(eventually { (try? sqlite(db, "SELECT status FROM runs WHERE id = 1")) == "interrupted" })
        #expect(eventually { processes(running: ["sleep", "3713"]).isEmpty })
        #expect(eventually { (try? sqlite(db, "SELECT status || ':' || trigger FROM runs WHERE id = 2")) == "succeeded:boot" })
        #expect(try sqlite(db, "SELECT count(*) FROM runs WHERE status = 'running'") == "0")
        #expect(second.terminate() == 0)
        #expect(try sqlite(db, "PRAGMA integrity_check") == "ok")
    }

    @Test func sigtermStopsARunThatIgnoresItWithinTheGracePeriods() throws {
        let scratch = try Scratch()
        let db = scratch.path("schedd.db")
        let config = try scratch.write("jobs.json", #"""
            {"jobs": [{"name": "stubborn", "shell": "trap '' TERM; sleep 3714 & wait; wait", "schedule": "@reboot", "kill_grace": "1s"}]}
            """#)
        let daemon = try DaemonProcess(["--db", db, "--config", config, "--shutdown-grace", "1s"], log: scratch.path("schedd.log"))
        #expect(eventually { (try? sqlite(db, "SELECT status FROM runs WHERE id = 1")) == "running" })
        #expect(eventually { !processes(running: ["sleep", "3714"]).isEmpty })
        #expect(daemon.terminate() == 0)
        #expect(try sqlite(db, "SELECT status FROM runs WHERE id = 1") == "cancelled")
        #expect(processes(running: ["sleep", "3714"]).isEmpty)
    }

    /// A retry waiting for its time when schedd stops is shown by `show`, kept with the failed
    /// run, and taken up by the next start, due when it was.
    @Test func aWaitingRetryOutlivesARestartOfTheDaemon() throws {
        let scratch = try Scratch()
        let db = scratch.path("schedd.db")
        let config = try scratch.write("jobs.json", #"{"jobs": [{"name": "flaky", "shell": "exit 3", "retries": 1, "retry_backoff": "2h"}]}"#)
        struct ShowFailed: Error, CustomStringConvertible { let description: String }
        func show(_ daemon: DaemonProcess) throws -> [String: Any]? {
            let shown = try Binaries.run(Binaries.schedctl, ["--socket", daemon.socketPath, "--json", "show", "flaky"])
            // What schedctl said, when it did not answer (a full run's load once made it fail,
            // and the test failed on the empty answer's JSON, saying nothing of why).
            guard shown.status == 0 else { throw ShowFailed(description: "schedctl show: exit \(shown.status): \(shown.stderr)") }
            return (try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any])?["retry"] as? [String: Any]
        }
        let first = try DaemonProcess(["--db", db, "--config", config], log: scratch.path("first.log"))
        #expect(first.waitUntilStarted())
        // (Not `run --wait`, which would follow the retry two hours on.)
        #expect(try Binaries.run(Binaries.schedctl, ["--socket", first.socketPath, "run", "flaky"]).status == 0)
        #expect(eventually { (try? show(first))??["attempt"] as? Int == 2 })
        let table = try Binaries.run(Binaries.schedctl, ["--socket", first.socketPath, "show", "flaky"]).stdout
        #expect(table.contains("retry: attempt 2 in "), "\(table)")
        let due = try #require(try show(first)?["due_at"] as? String)
        #expect(try sqlite(db, "SELECT retry_at FROM runs WHERE id = 1") == due)
        #expect(first.terminate() == 0)

        let second = try DaemonProcess(["--db", db, "--config", config], log: scratch.path("second.log"))
        #expect(second.waitUntilStarted())
        let taken = try show(second)
        #expect(taken?["attempt"] as? Int == 2 && taken?["due_at"] as? String == due, "\(String(describing: taken))")
        #expect(second.terminate() == 0)
    }

    /// A run that SIGTERM's grace period did not let finish is recorded `cancelled`, and its job
    /// (with retries left) runs it again at the next start, at once (not after its backoff):
    /// an upgrade does not drop work that a crash would not.
    @Test func aRunStoppedByTheShutdownRunsAgainAtTheNextStart() throws {
        let scratch = try Scratch()
        let db = scratch.path("schedd.db")
        let done = scratch.path("upgraded")
        let config = try scratch.write("jobs.json", #"""
            {"jobs": [{"name": "long", "shell": "if [ -e \#(done) ]; then echo again; else sleep 300; fi",
                       "retries": 1, "retry_backoff": "2h"}]}
            """#)
        let first = try DaemonProcess(["--db", db, "--config", config, "--shutdown-grace", "1s"], log: scratch.path("first.log"))
        #expect(first.waitUntilStarted())
        let waiting = try LiveOutputTests.Follower(socket: first.socketPath, scratch: scratch, ["run", "long", "--wait"])
        #expect(eventually { (try? sqlite(db, "SELECT status FROM runs WHERE id = 1")) == "running" })
        #expect(first.terminate() == 0)
        // `run --wait` says the work is not dropped.
        #expect(waiting.finish() == 1)
        #expect(waiting.errors.contains("long run 1: cancelled: schedd stopped it at shutdown (grace period over); attempt 2 follows at schedd's next start"),
                "\(waiting.errors)")
        #expect(try sqlite(db, "SELECT status || ' ' || error || ' ' || (retry_at IS NOT NULL) FROM runs WHERE id = 1")
                    == "cancelled schedd stopped it at shutdown (grace period over) 1")
        _ = FileManager.default.createFile(atPath: done, contents: nil)
        let second = try DaemonProcess(["--db", db, "--config", config], log: scratch.path("second.log"))
        #expect(second.waitUntilStarted())
        #expect(eventually { (try? sqlite(db, "SELECT status FROM runs WHERE id = 2")) == "succeeded" })
        #expect(try sqlite(db, "SELECT trigger || ' ' || attempt || ' ' || retry_of || ' ' || output FROM runs WHERE id = 2") == "retry 2 1 again")
        let history = try Binaries.run(Binaries.schedctl, ["--socket", second.socketPath, "history", "long"]).stdout
        #expect(history.contains("retry #1 after 1"), "\(history)")
        #expect(second.terminate() == 0)
    }

    /// An attempt that fails on its own during SIGTERM's grace period keeps its retry, due after
    /// its backoff, for the next start; `run --wait` says so and exits with the attempt's status.
    /// (The build before dropped the retry; the one before that said "cannot reach schedd".)
    @Test func anAttemptFailingWhileSchedStopsKeepsItsRetry() throws {
        let scratch = try Scratch()
        let db = scratch.path("schedd.db")
        let config = try scratch.write("jobs.json", #"{"jobs": [{"name": "flaky", "shell": "sleep 1; exit 3", "retries": 1, "retry_backoff": "1h"}]}"#)
        let daemon = try DaemonProcess(["--db", db, "--config", config, "--shutdown-grace", "30s"], log: scratch.path("schedd.log"))
        #expect(daemon.waitUntilStarted())
        let waiting = try LiveOutputTests.Follower(socket: daemon.socketPath, scratch: scratch, ["run", "flaky", "--wait"])
        #expect(eventually { (try? sqlite(db, "SELECT status FROM runs WHERE id = 1")) == "running" })
        kill(daemon.pid, SIGTERM)
        #expect(daemon.waitForExit(timeout: 30) == 0)
        #expect(try sqlite(db, "SELECT status || ' ' || (retry_at > finished_at) FROM runs WHERE id = 1") == "failed 1")
        #expect(waiting.finish() == 3)
        #expect(waiting.errors.contains("flaky run 1: attempt 2 follows at schedd's next start"), "\(waiting.errors)")
    }

    /// A run that fails on its own during SIGTERM's grace period, with no retry: its
    /// `on_failure` runs at the next start, told which run failed and how, and its failure is
    /// counted; `run --wait` says so. (The build before never ran it, and the job's failures in
    /// a row stayed 0.)
    @Test func onFailureOfARunFailingWhileSchedStopsRunsAtTheNextStart() throws {
        let scratch = try Scratch()
        let db = scratch.path("schedd.db")
        let told = scratch.path("told")
        let config = try scratch.write("jobs.json", #"""
            {"jobs": [{"name": "flaky", "shell": "sleep 1; exit 3", "on_failure": "alert"},
                      {"name": "alert", "shell": "echo $SCHEDD_TRIGGERED_BY_JOB $SCHEDD_TRIGGERED_BY_RUN $SCHEDD_TRIGGERED_BY_STATUS >> \#(told)"}]}
            """#)
        let arguments = ["--db", db, "--config", config, "--shutdown-grace", "30s"]
        let first = try DaemonProcess(arguments, log: scratch.path("first.log"))
        #expect(first.waitUntilStarted())
        let waiting = try LiveOutputTests.Follower(socket: first.socketPath, scratch: scratch, ["run", "flaky", "--wait"])
        #expect(eventually { (try? sqlite(db, "SELECT status FROM runs WHERE id = 1")) == "running" })
        #expect(first.terminate() == 0)
        #expect(try sqlite(db, "SELECT group_concat(job || ' ' || status || ' ' || coalesce(policy_pending, '-'), ', ') FROM runs") == "flaky failed 1")
        // `run --wait` says that what follows the failure is not dropped.
        #expect(waiting.finish() == 3)
        #expect(waiting.errors.hasSuffix("flaky run 1: failed: exited with status 3; what follows it (its failure counted, on_failure) comes at schedd's next start\n"),
                "\(waiting.errors)")
        #expect(!FileManager.default.fileExists(atPath: told))
        let second = try DaemonProcess(arguments, log: scratch.path("second.log"))
        #expect(second.waitUntilStarted())
        #expect(eventually { (try? String(contentsOfFile: told, encoding: .utf8)) == "flaky 1 failed\n" })
        #expect(eventually { (try? sqlite(db, "SELECT count(*) FROM runs WHERE policy_pending IS NOT NULL")) == "0" })
        #expect(try sqlite(db, "SELECT consecutive_failures FROM job_state WHERE job = 'flaky'") == "1")
        #expect(second.terminate() == 0)
    }

    /// A second SIGTERM ends the grace period: the run is stopped now, not after 60 s.
    @Test func aSecondSIGTERMStopsTheRunsAtOnce() throws {
        let scratch = try Scratch()
        let db = scratch.path("schedd.db")
        let config = try scratch.write("jobs.json", #"{"jobs": [{"name": "long", "schedule": "@reboot", "shell": "sleep 300"}]}"#)
        let daemon = try DaemonProcess(["--db", db, "--config", config, "--shutdown-grace", "60s"], log: scratch.path("schedd.log"))
        #expect(daemon.waitUntilStarted())
        #expect(eventually { (try? sqlite(db, "SELECT status FROM runs WHERE id = 1")) == "running" })
        kill(daemon.pid, SIGTERM)
        // The daemon's word that the first signal started the shutdown, then the second.
        #expect(eventually { daemon.stderr().contains("shutting down: no more runs start") })
        #expect(!daemon.stderr().contains("second stop signal"))
        // `status` during the drain says so, and how long the runs have.
        let status = try Binaries.run(Binaries.schedctl, ["--socket", daemon.socketPath, "status"]).stdout
        #expect(status.contains("state:     shutting down: no run starts; 1 run going on, stopped in "), "\(status)")
        let json = try Binaries.run(Binaries.schedctl, ["--socket", daemon.socketPath, "--json", "status"]).stdout
        let shutdown = (try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])?["shutting_down"] as? [String: Any]
        #expect(shutdown?["runs"] as? Int == 1 && shutdown?["grace_ends_at"] is String, "\(json)")
        kill(daemon.pid, SIGTERM)
        #expect(daemon.waitForExit(timeout: 30) == 0)
        #expect(daemon.stderr().contains("second stop signal"))
        #expect(try sqlite(db, "SELECT status || ' ' || error FROM runs WHERE id = 1") == "cancelled schedd stopped it at shutdown (grace period over)")
    }

    /// The daemon once cut its own grace period short: a task that ended on the shutdown
    /// signal cancelled the engine, whose sweeper then stopped before the run it was sweeping.
    /// A run that ends within the grace period must end as it would have, and schedd with it.
    @Test func sigtermLetsARunningJobFinishWithinTheGracePeriod() throws {
        let scratch = try Scratch()
        let db = scratch.path("schedd.db")
        let gate = scratch.path("gate")
        let config = try scratch.write("jobs.json", #"""
            {"jobs": [{"name": "finishing", "schedule": "@reboot",
                       "shell": "while [ ! -e \#(gate) ]; do sleep 0.05; done; sleep 6; echo done"}]}
            """#)
        let daemon = try DaemonProcess(["--db", db, "--config", config, "--shutdown-grace", "60s"], log: scratch.path("schedd.log"))
        #expect(daemon.waitUntilStarted())
        #expect(eventually { (try? sqlite(db, "SELECT status FROM runs WHERE id = 1")) == "running" })
        // The run now needs 6 s more: longer than the daemon's 5 s status pace, well within the grace.
        _ = FileManager.default.createFile(atPath: gate, contents: nil)
        kill(daemon.pid, SIGTERM)
        #expect(daemon.waitForExit(timeout: 40) == 0)
        let row = try sqlite(db, "SELECT status || ' ' || replace(coalesce(output, '<no output>'), char(10), '') || ' | ' || coalesce(error, '-') FROM runs WHERE id = 1")
        #expect(row == "succeeded done | -", "the run's row: \(row); the daemon's log:\n\(daemon.stderr())")
    }
}
