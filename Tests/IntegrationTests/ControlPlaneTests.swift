import Foundation
import SchedulerAPI
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A running daemon and `schedctl` pointed at it.
final class Daemon {
    let scratch: Scratch
    let db: String
    let process: DaemonProcess
    var socket: String { process.socketPath }

    init(jobs: String, extra: [String] = []) throws {
        scratch = try Scratch()
        db = scratch.path("schedd.db")
        let config = try scratch.write("jobs.json", jobs)
        process = try DaemonProcess(["--db", db, "--config", config] + extra, log: scratch.path("schedd.log"))
        // "control socket ready" is logged after the socket's mode and group are set.
        guard process.waitUntilStarted(), eventually({ process.stderr().contains("control socket ready") }) else {
            throw POSIXError(.ETIMEDOUT)
        }
    }

    func ctl(_ arguments: [String], input: String? = nil) throws -> Binaries.Result {
        try Binaries.run(Binaries.schedctl, ["--socket", socket] + arguments, input: input)
    }

    /// Sends raw bytes and returns whatever comes back before the server closes or `timeout`;
    /// `halfClose` shuts the sending side down after the bytes, as some clients do.
    func raw(_ bytes: [UInt8], timeout: Int = 5, halfClose: Bool = false) -> String {
        Self.raw(socket: socket, bytes, timeout: timeout, halfClose: halfClose)
    }

    static func raw(socket: String, _ bytes: [UInt8], timeout: Int = 5, halfClose: Bool = false) -> String {
        let fd = UnixSocketAddress.connectStream(socket)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        return LocalHTTP.exchange(fd, bytes, timeout: timeout, halfClose: halfClose)
    }

    func socket_connect() -> Int32 { UnixSocketAddress.connectStream(socket) }

    deinit {
        // No input may crash the daemon: one that died under a test fails it, with its log.
        if !process.process.isRunning && !process.stoppedByTest && process.process.terminationReason == .uncaughtSignal {
            Issue.record("schedd died during the test (signal \(process.process.terminationStatus)); its log ends:\n\(process.stderr().suffix(4000))")
        }
        _ = process.terminate()
    }
}

@Suite(.ownThreads) struct ControlPlaneTests {
    static let jobs = #"""
        {"jobs": [{"name": "ok", "shell": "echo hello", "schedule": "@hourly"},
                  {"name": "fails", "shell": "echo oops; exit 3"},
                  {"name": "slow", "shell": "sleep 30", "timeout": "1s", "kill_grace": "500ms"},
                  {"name": "killed", "shell": "kill -9 $$"}]}
        """#

    @Test func statusListShowAndJSON() throws {
        let d = try Daemon(jobs: Self.jobs)
        let status = try d.ctl(["status"])
        #expect(status.status == 0)
        #expect(status.stdout.contains("jobs:      4 jobs (4 active"))
        #expect(status.stdout.contains("health:    ok"))
        let list = try d.ctl(["list"])
        #expect(list.stdout.split(separator: "\n").first?.split(separator: " ", omittingEmptySubsequences: true) == ["NAME", "STATE", "SCHEDULE", "NEXT", "LAST", "RESULT"])
        #expect(list.stdout.contains("ok      active  @hourly"))
        let json = try d.ctl(["--json", "list"])
        let parsed = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]]
        #expect(parsed?.compactMap { $0["name"] as? String }.sorted() == ["fails", "killed", "ok", "slow"])
        let show = try d.ctl(["show", "ok"])
        #expect(show.stdout.hasPrefix("ok: active"))
        #expect(try d.ctl(["show", "nope"]).status == 1)
    }

    /// `pause`, `resume`, `start`, `stop` and `restart` take several jobs, by name or shell
    /// pattern: each is done and said; one refused is said and the rest go on (exit 1); a
    /// pattern that matches nothing does nothing at all. The service verbs' patterns match
    /// services only.
    @Test func verbsTakeSeveralJobsAndPatterns() throws {
        let d = try Daemon(jobs: #"""
            {"jobs": [{"name": "db-backup", "shell": "true", "schedule": "@daily"},
                      {"name": "db-vacuum", "shell": "true", "schedule": "@weekly"},
                      {"name": "report", "shell": "true", "schedule": "@hourly"},
                      {"name": "db-proxy", "shell": "exec sleep 600", "restart": "always"},
                      {"name": "web", "shell": "exec sleep 600", "restart": "always"}]}
            """#)
        func states() throws -> [String: String] {
            let listed = try JSONSerialization.jsonObject(with: Data(try d.ctl(["--json", "list"]).stdout.utf8)) as? [[String: Any]] ?? []
            return Dictionary(uniqueKeysWithValues: listed.compactMap { job in (job["name"] as? String).map { ($0, job["state"] as? String ?? "") } })
        }
        #expect(eventually { (try? states())?["web"] == "ready" && (try? states())?["db-proxy"] == "ready" })
        let none = try d.ctl(["pause", "report", "nightly-*"])
        #expect(none.status == 1 && none.stderr == "schedctl: no job matches nightly-* (nothing was done)\n", "\(none.stderr)")
        #expect(try states()["report"] == "active")
        let paused = try d.ctl(["pause", "db-*", "report", "nosuch"])
        #expect(paused.status == 1, "\(paused.stderr)")
        #expect(paused.stdout == "db-backup: paused\ndb-proxy: paused\ndb-vacuum: paused\nreport: paused\n", "\(paused.stdout)")
        #expect(paused.stderr.contains(#"schedctl: no job named "nosuch""#), "\(paused.stderr)")
        #expect(try states() == ["db-backup": "paused", "db-vacuum": "paused", "report": "paused", "db-proxy": "paused", "web": "ready"])
        let json = try JSONSerialization.jsonObject(with: Data(try d.ctl(["--json", "resume", "db-*"]).stdout.utf8)) as? [[String: Any]]
        #expect(json?.count == 3)
        #expect(try d.ctl(["resume", "report"]).stdout == "report: active\n")
        #expect(eventually { (try? states())?["db-proxy"] == "ready" })
        let stopped = try d.ctl(["stop", "*"])
        #expect(stopped.status == 0 && stopped.stdout.split(separator: "\n").map { $0.prefix { $0 != ":" } } == ["db-proxy", "web"], "\(stopped.stdout)")
        #expect(eventually { (try? states())?["web"] == "stopped" && (try? states())?["db-proxy"] == "stopped" })
        #expect(try states()["report"] == "active")
        #expect(try d.ctl(["start", "web", "db-proxy"]).status == 0)
        #expect(eventually { (try? states())?["web"] == "ready" && (try? states())?["db-proxy"] == "ready" })
    }

    /// `list` takes names and shell patterns, and a state: the table, `--json` (filtered as
    /// the daemon sent it), and what matched nothing out of how many.
    @Test func listTakesPatternsAndAState() throws {
        let d = try Daemon(jobs: Self.jobs)
        func names(_ arguments: [String]) throws -> [String] {
            let listed = try d.ctl(["list"] + arguments)
            #expect(listed.status == 0, "\(arguments): \(listed.stderr)")
            return listed.stdout.split(separator: "\n").dropFirst().map { String($0.prefix { $0 != " " }) }
        }
        #expect(try names(["f*"]) == ["fails"])
        #expect(try names(["ok", "*l*"]) == ["fails", "killed", "ok", "slow"])
        #expect(try names(["s?ow", "k*"]) == ["killed", "slow"])
        _ = try d.ctl(["pause", "slow"])
        #expect(try names(["--state", "paused"]) == ["slow"])
        #expect(try names(["--state", "active", "s*"]) == [])
        let none = try d.ctl(["list", "--state", "active", "s*"])
        #expect(none.stdout == "no jobs matching s* in state active (of 4)\n", "\(none.stdout)")
        let json = try JSONSerialization.jsonObject(with: Data(try d.ctl(["--json", "list", "*i*"]).stdout.utf8)) as? [[String: Any]]
        #expect(json?.compactMap { $0["name"] as? String } == ["fails", "killed"])
        let typo = try d.ctl(["list", "--state", "pausd"])
        #expect(typo.status == 2 && typo.stderr.contains(#"--state "pausd" is not a state (did you mean "paused"?)"#), "\(typo.stderr)")
        // history of the jobs a pattern matches: the newest runs of them all.
        for job in ["ok", "fails", "killed", "ok"] { _ = try d.ctl(["run", job, "--wait"]) }
        func jobsOfHistory(_ arguments: [String]) throws -> [String] {
            try d.ctl(["history"] + arguments).stdout.split(separator: "\n").dropFirst().map { String($0.split(separator: " ")[1]) }
        }
        #expect(try jobsOfHistory(["*l*"]) == ["killed", "fails"])
        #expect(try jobsOfHistory(["?k*", "-n", "1"]) == ["ok"])
        #expect(try jobsOfHistory(["*", "-n", "3"]) == ["ok", "killed", "fails"])
        let page = try JSONSerialization.jsonObject(with: Data(try d.ctl(["--json", "history", "*l*"]).stdout.utf8)) as? [String: Any]
        #expect((page?["runs"] as? [[String: Any]])?.compactMap { $0["job"] as? String } == ["killed", "fails"])
        let unmatched = try d.ctl(["history", "nightly-*"])
        #expect(unmatched.status == 1 && unmatched.stderr.contains("no job matches nightly-*"), "\(unmatched.stderr)")
    }

    /// `--timezone`: schedules that name no zone are read in it, and `status` says which.
    @Test func aZoneGivenToTheDaemonReadsSchedulesThatNameNone() throws {
        let d = try Daemon(jobs: #"{"jobs": [{"name": "nightly", "shell": "true", "schedule": "0 0 * * *"}]}"#,
                           extra: ["--timezone", "Asia/Kathmandu"])
        let status = try d.ctl(["status"])
        #expect(status.stdout.contains("time zone: Asia/Kathmandu (of schedules that name none)"), "\(status.stdout)")
        let list = try JSONSerialization.jsonObject(with: Data(try d.ctl(["--json", "list"]).stdout.utf8)) as? [[String: Any]]
        let text = try #require(list?.first?["next_run_at"] as? String)
        let next = try #require(Timestamp.parse(text))
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "Asia/Kathmandu")!
        #expect(calendar.dateComponents([.hour, .minute], from: next) == DateComponents(hour: 0, minute: 0), "\(next)")
    }

    @Test func runWaitExitsWithTheRunsStatus() throws {
        let d = try Daemon(jobs: Self.jobs)
        let ok = try d.ctl(["run", "ok", "--wait"])
        #expect(ok.status == 0)
        #expect(ok.stdout == "hello\n")
        let fails = try d.ctl(["run", "fails", "--wait"])
        #expect(fails.status == 3)
        #expect(fails.stdout == "oops\n")
        #expect(try d.ctl(["run", "slow", "--wait"]).status == 124)
        // The short forms of tail -f and journalctl -n.
        #expect(try d.ctl(["run", "killed", "-w"]).status == 137)
        let history = try d.ctl(["history", "--limit", "10"])
        #expect(history.stdout.contains("timed_out"))
        let last = try d.ctl(["history", "-n", "1"])
        #expect(last.stdout.split(separator: "\n").count == 2 && last.stdout.contains("killed"), "\(last.stdout)")
        let logs = try d.ctl(["logs", "fails"])
        #expect(logs.stdout == "oops\n")
        #expect(logs.stderr == "schedctl: fails run \(try sqlite(d.db, "SELECT max(id) FROM runs WHERE job = 'fails'")): failed: exited with status 3\n", "\(logs.stderr)")
        // What stopped a run, where its output does not say.
        let slow = try d.ctl(["logs", "slow"])
        #expect(slow.stderr.hasPrefix("schedctl: slow run ") && slow.stderr.contains(": timed_out: "), "\(slow.stderr)")
        let failures = try d.ctl(["--json", "history", "--status", "failed"])
        let page = try JSONSerialization.jsonObject(with: Data(failures.stdout.utf8)) as? [String: Any]
        #expect((page?["runs"] as? [Any])?.count == 2)
        // The journal says why a run failed, not only the database.
        func logged(_ job: String, _ detail: String) -> Bool {
            d.process.stderr().split(separator: "\n").contains { $0.contains("run finished") && $0.contains("schedd.job=\(job) ") && $0.contains(detail) }
        }
        #expect(eventually { logged("fails", "schedd.exit_code=3 ") })
        #expect(eventually { logged("killed", "schedd.signal=9 ") })
        #expect(eventually { logged("slow", "schedd.error=") })
        #expect(!logged("ok", "schedd.error="))
    }

    /// `run --wait` of a job that retries follows the retries: each attempt's output, a note
    /// on stderr at each retry, and the last attempt's status as the exit code.
    @Test func runWaitFollowsTheRetries() throws {
        let d = try Daemon(jobs: #"""
            {"jobs": [{"name": "third", "shell": "echo try $SCHEDD_ATTEMPT; [ $SCHEDD_ATTEMPT = 3 ]", "retries": 3, "retry_backoff": "200ms"},
                      {"name": "never", "shell": "echo try $SCHEDD_ATTEMPT; exit 5", "retries": 1, "retry_backoff": "200ms"}]}
            """#)
        let third = try d.ctl(["run", "third", "--wait"])
        #expect(third.status == 0)
        #expect(third.stdout == "try 1\ntry 2\ntry 3\n")
        #expect(third.stderr.contains("third run 1: failed: exited with status 1; retry (attempt 2)"), "\(third.stderr)")
        #expect(third.stderr.contains("; retry (attempt 3)"), "\(third.stderr)")
        let never = try d.ctl(["run", "never", "--wait"])
        #expect(never.status == 5)
        #expect(never.stdout == "try 1\ntry 2\n")
        #expect(never.stderr.hasSuffix("failed: exited with status 5\n"), "\(never.stderr)")
        let json = try d.ctl(["--json", "run", "third", "--wait"])
        #expect(json.status == 0)
        let last = try APICoding.decoder().decode(RunRecord.self, from: Data(json.stdout.utf8))
        #expect(last.attempt == 3 && last.trigger == .retry && last.status == .succeeded)
    }

    /// `run --wait` follows its own run's retry, not the retry of another failed run of the
    /// job that starts meanwhile (with the next attempt, after it).
    @Test func runWaitFollowsItsOwnRetryNotAnothers() throws {
        let scratch = try Scratch()
        let slow = scratch.path("slow")
        let d = try Daemon(jobs: #"""
            {"jobs": [{"name": "flaky", "concurrency": "allow", "retries": 1, "retry_backoff": "2s",
                       "shell": "echo run $SCHEDD_RUN_ID try $SCHEDD_ATTEMPT; if [ $SCHEDD_ATTEMPT = 1 ] && [ -e \#(slow) ]; then sleep 4; fi; exit 1"}]}
            """#)
        // Run 1 fails at once; its retry comes within 2 s, while run 2 (below) goes on.
        #expect(try d.ctl(["run", "flaky"]).status == 0)
        #expect(eventually { (try? d.ctl(["show", "flaky"]))?.stdout.contains("retry: attempt 2") == true })
        #expect(FileManager.default.createFile(atPath: slow, contents: nil))
        let wait = try d.ctl(["run", "flaky", "--wait"])
        #expect(wait.status == 1)
        let rows = try d.ctl(["--json", "history", "flaky"])
        let runs = try APICoding.decoder().decode(RunPage.self, from: Data(rows.stdout.utf8)).runs
        let other = try #require(runs.first { $0.retryOf == 1 })
        let own = try #require(runs.first { $0.retryOf == 2 })
        #expect(other.id == 3 && own.id == 4, "\(runs.map { ($0.id, $0.retryOf as Any) })")
        #expect(wait.stdout == "run 2 try 1\nrun 4 try 2\n", "\(wait.stdout)")
        #expect(wait.stderr.hasSuffix("flaky run 4: failed: exited with status 1\n"), "\(wait.stderr)")
    }

    /// A reload that removes a job which a job created over the API names is made (the API's
    /// job is not the file's to change), and the jobs left naming a missing one are told of:
    /// by the reload's answer, the log and `status` (exit 1) until they are changed. Reloaded
    /// unchanged after that, it reports the file's jobs, not the API's. The same for an apply
    /// that makes a service another job requires a plain job.
    @Test func aChangeThatBreaksAnotherJobsReferenceIsMadeAndSaysSo() throws {
        let d = try Daemon(jobs: #"""
            {"jobs": [{"name": "db", "restart": "always", "shell": "exec sleep 1000"},
                      {"name": "page", "shell": "true"}, {"name": "alert", "shell": "true"}]}
            """#)
        let created = try d.ctl(["apply", "-"], input: #"""
            {"jobs": [{"name": "report", "shell": "true", "schedule": "@hourly", "requires": ["db"], "on_failure": "alert", "on_success": "page"}]}
            """#)
        #expect(created.status == 0 && created.stderr.isEmpty, "\(created.stderr)")
        #expect(try d.ctl(["status"]).status == 0)
        _ = try d.scratch.write("jobs.json", #"{"jobs": [{"name": "page", "shell": "true"}]}"#)
        let reload = try d.ctl(["reload"])
        #expect(reload.status == 0)
        #expect(reload.stdout == "removed: alert, db\nunchanged: page\n", "\(reload.stdout)")
        #expect(reload.stderr == "schedctl: warning: report: on_failure: no job named \"alert\": its runs' ends trigger nothing there\n"
                    + "schedctl: warning: report: requires: no job named \"db\": its runs are skipped until there is one\n", "\(reload.stderr)")
        let status = try d.ctl(["status"])
        #expect(status.status == 1)
        #expect(status.stdout.contains("health:    1 job needs attention\n  report: broken_reference (on_failure: no job named \"alert\": its runs' ends "
                                       + "trigger nothing there; requires: no job named \"db\": its runs are skipped until there is one)\n"), "\(status.stdout)")
        #expect(eventually { d.process.stderr().contains(#"a job names a job it cannot use schedd.job=report schedd.problem="requires: no job named \"db\""#) })
        // Unchanged, taken by the fast path: the file's jobs only.
        #expect(try d.ctl(["reload"]).stdout == "unchanged: page\n")
        #expect(try d.ctl(["remove", "report"]).status == 0)
        #expect(try d.ctl(["status"]).status == 0)

        // A service made a plain job by an apply, while another job requires it.
        let stack = #"{"jobs": [{"name": "cache", "restart": "always", "shell": "exec sleep 1000"}, {"name": "warm", "shell": "true", "requires": ["cache"]}]}"#
        #expect(try d.ctl(["apply", "-"], input: stack).status == 0)
        let plain = #"{"jobs": [{"name": "cache", "shell": "exec sleep 1000"}]}"#
        let dry = try d.ctl(["apply", "--dry-run", "-"], input: plain)
        #expect(dry.stderr == "schedctl: warning: after this change, warm: requires: \"cache\" is not a service: its runs are skipped until it is one\n",
                "\(dry.stderr)")
        let demoted = try d.ctl(["apply", "-"], input: plain)
        #expect(demoted.status == 0 && demoted.stdout == "updated: cache\n", "\(demoted.stdout)")
        #expect(demoted.stderr == "schedctl: warning: warm: requires: \"cache\" is not a service: its runs are skipped until it is one\n", "\(demoted.stderr)")
        #expect(try d.ctl(["status"]).stdout.contains("  warm: broken_reference (requires: \"cache\" is not a service: its runs are skipped until it is one)\n"))
        #expect(try d.ctl(["show", "warm"]).stdout.contains("\nproblem: requires: \"cache\" is not a service: its runs are skipped until it is one\n"))
    }

    /// `cancel NAME` drops a retry that waits for its time, and says so.
    @Test func cancelDropsAWaitingRetry() throws {
        let d = try Daemon(jobs: #"{"jobs": [{"name": "flaky", "shell": "exit 3", "retries": 1, "retry_backoff": "1h"}]}"#)
        // By the failed run's id, as `history` shows it.
        #expect(try d.ctl(["run", "flaky"]).status == 0)
        #expect(eventually { (try? d.ctl(["show", "flaky"]))?.stdout.contains("retry: attempt 2 in ") == true })
        #expect(try d.ctl(["show", "flaky"]).stdout.contains(" (of run 1)\n"))
        let byRun = try d.ctl(["cancel", "1"])
        #expect(byRun.status == 0)
        #expect(byRun.stdout == "run 1: its retry that had not started will not run (recorded skipped: run 2)\n", "\(byRun.stdout)")
        #expect(try d.ctl(["show", "flaky"]).stdout.contains("retry:") == false)
        let again = try d.ctl(["cancel", "1"])
        #expect(again.status != 0 && again.stderr.contains("run 1 is not active: it ended (failed) and has no retry waiting"), "\(again.stderr)")
        #expect(try d.ctl(["cancel", "99"]).stderr.contains("no run 99"))
        // By the job's name.
        #expect(try d.ctl(["run", "flaky"]).status == 0)
        #expect(eventually { (try? d.ctl(["show", "flaky"]))?.stdout.contains("retry: attempt 2 in ") == true })
        let cancelled = try d.ctl(["cancel", "flaky"])
        #expect(cancelled.status == 0)
        #expect(cancelled.stdout == "flaky: its retry that had not started will not run (recorded skipped: run 4)\n", "\(cancelled.stdout)")
        #expect(try d.ctl(["show", "flaky"]).stdout.contains("retry:") == false)
        let history = try d.ctl(["history", "flaky"]).stdout
        #expect(history.contains("retry #1") && history.contains("skipped"), "\(history)")
        #expect(try d.ctl(["cancel", "flaky"]).stdout == "flaky: no active run and nothing waiting to start\n")
    }

    /// A paused job's retry waits for the resume; `show` says so.
    @Test func aPausedJobsRetryWaitsForTheResume() throws {
        let d = try Daemon(jobs: #"{"jobs": [{"name": "flaky", "shell": "exit 3", "retries": 1, "retry_backoff": "2s"}]}"#)
        #expect(try d.ctl(["run", "flaky"]).status == 0)
        #expect(eventually { (try? d.ctl(["show", "flaky"]))?.stdout.contains("retry: attempt 2 ") == true })
        #expect(try d.ctl(["pause", "flaky"]).status == 0)
        #expect(eventually(timeout: 10) {
            (try? d.ctl(["show", "flaky"]))?.stdout.contains("retry: attempt 2 (of run 1), held while the job is paused: it starts at `schedctl resume`") == true
        })
        #expect(try d.ctl(["history", "flaky"]).stdout.contains("retry #1") == false)
        #expect(try d.ctl(["resume", "flaky"]).status == 0)
        #expect(eventually { (try? d.ctl(["history", "flaky"]))?.stdout.contains("retry #1") == true })
    }

    /// `run --wait` of a paused or disabled job's failing run ends with the failure and says
    /// that its retry is held until `resume` (or `enabled`), instead of waiting for a retry that
    /// does not start.
    @Test func runWaitOfAPausedOrDisabledJobSaysItsRetryIsHeld() throws {
        let d = try Daemon(jobs: #"""
            {"jobs": [{"name": "flaky", "shell": "echo try $SCHEDD_ATTEMPT; exit 3", "retries": 1, "retry_backoff": "200ms"},
                      {"name": "patient", "shell": "exit 3", "retries": 1, "retry_backoff": "1h"},
                      {"name": "off", "shell": "exit 4", "enabled": false, "retries": 1, "retry_backoff": "200ms"}]}
            """#)
        #expect(try d.ctl(["pause", "flaky"]).status == 0)
        let wait = try Binaries.run(Binaries.schedctl, ["--socket", d.socket, "run", "flaky", "--wait"], timeout: 30)
        #expect(wait.status == 3)
        #expect(wait.stdout == "try 1\n", "\(wait.stdout)")
        #expect(wait.stderr.hasSuffix("flaky run 1: failed: exited with status 3; attempt 2 is held while the job is paused: it starts at `schedctl resume`\n"),
                "\(wait.stderr)")
        #expect(try d.ctl(["history", "flaky"]).stdout.contains("retry #1") == false)
        #expect(try d.ctl(["resume", "flaky"]).status == 0)
        #expect(eventually { (try? d.ctl(["history", "flaky"]))?.stdout.contains("retry #1 after 1") == true })
        let off = try Binaries.run(Binaries.schedctl, ["--socket", d.socket, "run", "off", "--wait"], timeout: 30)
        #expect(off.status == 4)
        #expect(off.stderr.hasSuffix("; attempt 2 is held while the job is disabled: it starts when enabled again\n"), "\(off.stderr)")

        // Paused while the wait goes on (during the retry's backoff): the wait ends too.
        let errors = d.scratch.path("wait.err")
        _ = FileManager.default.createFile(atPath: errors, contents: nil)
        let waiting = Process()
        waiting.executableURL = Binaries.schedctl
        waiting.arguments = ["--socket", d.socket, "run", "patient", "--wait"]
        waiting.standardOutput = FileHandle.nullDevice
        waiting.standardError = FileHandle(forWritingAtPath: errors)
        try waiting.run()
        defer { if waiting.isRunning { waiting.terminate() }; waiting.waitUntilExit() }
        #expect(eventually { ((try? String(contentsOfFile: errors, encoding: .utf8)) ?? "").contains("; retry (attempt 2) in ") })
        #expect(try d.ctl(["pause", "patient"]).status == 0)
        #expect(eventually(timeout: 15) { !waiting.isRunning })
        // A wait that does not end fails the test rather than holding it.
        if waiting.isRunning { waiting.terminate() }
        waiting.waitUntilExit()
        #expect(waiting.terminationStatus == 3)
        let said = (try? String(contentsOfFile: errors, encoding: .utf8)) ?? ""
        #expect(said.hasSuffix("; attempt 2 is held while the job is paused: it starts at `schedctl resume`\n"), "\(said)")
    }

    /// `cancel NAME` drops the job's runs waiting for a worker, and says so; its schedule goes on.
    @Test func cancelDropsRunsWaitingForAWorker() throws {
        let d = try Daemon(jobs: #"""
            {"jobs": [{"name": "hog", "shell": "exec sleep 30"},
                      {"name": "batch", "shell": "true", "schedule": "@every 1s", "concurrency": "allow"}]}
            """#, extra: ["--workers", "1"])
        // (`run` returns once the run has started: the hog holds the only worker. A fire of
        // batch may have come first, on a slow start.)
        let hog = try d.ctl(["run", "hog"])
        #expect(hog.status == 0 && hog.stdout.hasPrefix("started hog: run "), "\(hog.stdout)")
        let hogRun = hog.stdout.dropFirst("started hog: run ".count).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(eventually {
            guard let status = try? d.ctl(["--json", "status"]) else { return false }
            return ((try? APICoding.decoder().decode(StatusResponse.self, from: Data(status.stdout.utf8)))?.queued ?? 0) >= 2
        })
        let cancelled = try d.ctl(["cancel", "batch"])
        #expect(cancelled.status == 0)
        let skipped = cancelled.stdout.split(separator: "run ").last.map { $0.dropLast(2).split(separator: ", ") } ?? []
        #expect(cancelled.stdout.hasPrefix("batch: \(skipped.count) runs waiting to start will not run (recorded skipped: run "), "\(cancelled.stdout)")
        #expect(skipped.count >= 2)
        let history = try d.ctl(["--json", "history", "batch", "--status", "skipped"])
        let rows = try APICoding.decoder().decode(RunPage.self, from: Data(history.stdout.utf8)).runs
        #expect(Set(rows.map { String($0.id) }).isSuperset(of: skipped.map(String.init)), "\(rows.map(\.id)) \(skipped)")
        #expect(rows.allSatisfy { $0.error?.hasPrefix("skipped: cancelled before it started by uid") == true })
        #expect(try d.ctl(["cancel", "hog"]).stdout == "cancelling run \(hogRun)\n")
    }

    @Test func applyExportPauseResumeCancelRemoveReload() throws {
        let d = try Daemon(jobs: Self.jobs)
        let file = try d.scratch.write("more.json", #"{"jobs": [{"name": "extra", "shell": "sleep 30"}]}"#)
        let dry = try d.ctl(["apply", file, "--dry-run"])
        #expect(dry.stdout.contains("would be created: extra"))
        #expect(try d.ctl(["apply", file]).stdout.contains("created: extra"))
        let broken = try d.scratch.write("broken.json", #"{"jobs": [{"name": "x", "shel": "true"}]}"#)
        let refused = try d.ctl(["apply", broken])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains(#"shel: unknown field (did you mean "shell"?)"#))

        // The --config file owns its jobs: the API may not change them (the next reload would
        // undo it), and says which file to edit. An export of every job applied back changes
        // nothing and is no error.
        let exported = try d.ctl(["export"])
        #expect(exported.status == 0)
        #expect(exported.stderr.contains("1 job from the API, 4 jobs from the file \(d.scratch.path("jobs.json"))"))
        let roundTrip = try d.ctl(["apply", "-"], input: exported.stdout)
        #expect(roundTrip.status == 0 && roundTrip.stdout.contains("unchanged: extra, fails, killed, ok, slow"), "\(roundTrip.stdout)\(roundTrip.stderr)")
        #expect(exported.stdout.contains(#""shell": "echo hello""#))
        let owned = try d.ctl(["apply", "-"], input: exported.stdout.replacingOccurrences(of: #""shell": "echo hello""#, with: #""shell": "echo changed""#))
        #expect(owned.status == 1)
        #expect(owned.stderr.contains("job \"ok\" is defined in \(d.scratch.path("jobs.json"))"))
        #expect(try d.ctl(["remove", "ok"]).stderr.contains("edit \(d.scratch.path("jobs.json")) and run `schedctl reload`"))
        let ours = try d.ctl(["export", "--origin", "api"])
        #expect(try d.ctl(["apply", "-"], input: ours.stdout).stdout.contains("unchanged: extra"))
        // A reload prunes only the file's jobs: the API's survives it.
        #expect(try d.ctl(["reload"]).stdout.contains("unchanged: fails, killed, ok, slow"))
        let wide = try d.ctl(["list", "--wide"]).stdout
        #expect(wide.contains("ORIGIN"))
        #expect(wide.split(separator: "\n").contains { $0.hasPrefix("extra ") && $0.contains(" api ") })
        #expect(wide.split(separator: "\n").contains { $0.hasPrefix("ok ") && $0.contains(" file ") })
        #expect(try d.ctl(["show", "extra"]).stdout.contains("origin: api (uid \(getuid())"))
        #expect(try sqlite(d.db, "SELECT origin || ' ' || origin_detail FROM jobs WHERE name = 'ok'") == "file \(d.scratch.path("jobs.json"))")

        #expect(try d.ctl(["pause", "ok"]).stdout == "ok: paused\n")
        #expect(try d.ctl(["resume", "ok"]).stdout == "ok: active\n")

        let started = try d.ctl(["--json", "run", "extra"])
        let run = try JSONSerialization.jsonObject(with: Data(started.stdout.utf8)) as? [String: Any]
        let id = try #require((run?["run"] as? [String: Any])?["id"] as? Int)
        let skipped = try d.ctl(["run", "extra"])
        #expect(skipped.status == 1)
        #expect(skipped.stderr.hasSuffix("(concurrency: forbid) (run \(id + 1); --force starts it anyway)\n"), "\(skipped.stderr)")
        // A pause leaves the run going, and says so.
        let paused = try d.ctl(["pause", "extra"])
        #expect(paused.stdout == "extra: paused\n" && paused.stderr == "schedctl: note: run \(id) of extra goes on to its end (`schedctl cancel extra` stops it)\n",
                "\(paused.stderr)")
        #expect(try d.ctl(["resume", "extra"]).status == 0)
        #expect(try d.ctl(["cancel", String(id)]).stdout == "cancelling run \(id)\n")
        #expect(eventually { (try? sqlite(d.db, "SELECT status FROM runs WHERE id = \(id)")) == "cancelled" })

        #expect(try d.ctl(["remove", "extra"]).stdout == "removed extra\n")
        #expect(try d.ctl(["remove", "extra"]).status == 1)
        #expect(try d.ctl(["reload"]).status == 0)
        // Each change over the socket left a line in the daemon's log, with the caller.
        let log = d.process.stderr()
        for line in ["jobs applied over the API", "job paused over the API", "job resumed over the API", "run started over the API",
                     "run cancelled over the API", "job removed over the API", "job file reloaded over the API"] {
            #expect(log.contains(line), "\(line)")
        }
        #expect(log.contains("schedd.caller_uid=\(getuid())"))
    }

    /// A run is told the slot it fires for and the node that runs it; a run by hand has no slot.
    @Test func aRunKnowsItsSlotAndItsNode() throws {
        let d = try Daemon(jobs: #"{"jobs": [{"name": "tick", "shell": "echo \"[$SCHEDD_SCHEDULED_AT] [$SCHEDD_NODE]\"", "schedule": "* * * * * *"}]}"#,
                           extra: ["--node", "node-a.test"])
        #expect(eventually { ((try? sqlite(d.db, "SELECT count(*) FROM runs WHERE status = 'succeeded' AND trigger = 'schedule'")) ?? "0") != "0" })
        let row = try sqlite(d.db, "SELECT scheduled_at || '|' || output FROM runs WHERE status = 'succeeded' AND trigger = 'schedule' LIMIT 1")
        let parts = row.split(separator: "|", maxSplits: 1).map(String.init)
        #expect(parts.count == 2 && parts[1] == "[\(parts[0])] [node-a.test]", "the scheduled run's row and output: \(row)")
        let manual = try d.ctl(["run", "tick", "--wait"])
        #expect(manual.stdout == "[] [node-a.test]\n")
        // A name that cannot be a node's is refused before anything starts.
        let scratch = try Scratch()
        let refused = try Binaries.run(Binaries.schedd, ["--db", scratch.path("x.db"), "--socket", scratch.path("s.sock"), "--node", "a b"])
        #expect(refused.status == 2 && refused.stderr.contains("--node \"a b\": a node name has only letters"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch.path("x.db")))
    }

    @Test func smallThingsANewUserMeets() throws {
        let d = try Daemon(jobs: Self.jobs)
        // A job that does not exist is an error for history, as for show.
        let history = try d.ctl(["history", "nosuch"])
        #expect(history.status == 1)
        #expect(history.stderr.contains("no job named \"nosuch\""))
        #expect(!history.stderr.contains("did you mean"))
        // A misspelt job gets a suggestion, from every verb that names one.
        for verb in ["show", "run", "pause", "history", "logs"] {
            let near = try d.ctl([verb, "fials"])
            #expect(near.status == 1 && near.stderr.contains("(did you mean \"fails\"?)"), "\(verb): \(near.stderr)")
        }
        // (`fails` has no schedule: `ok`'s @hourly fires when the test spans the top of an hour.)
        #expect(try d.ctl(["history", "fails"]).stdout == "no runs\n")
        // A misspelt verb gets a suggestion.
        let typo = try d.ctl(["lsit"])
        #expect(typo.status == 2)
        #expect(typo.stderr.contains("unknown verb \"lsit\" (did you mean \"list\"?)"))
        // --since takes a duration or a time, as the API does.
        #expect(try d.ctl(["run", "fails", "--wait"]).status == 3)
        let anHourAgo = Timestamp.format(Date().addingTimeInterval(-3600))
        for since in ["1h", anHourAgo, anHourAgo.replacingOccurrences(of: "Z", with: "+00:00")] {
            let recent = try d.ctl(["history", "--since", since])
            #expect(recent.status == 0 && recent.stdout.contains(" fails "), "\(since): \(recent.stdout)\(recent.stderr)")
        }
        #expect(try d.ctl(["history", "--since", Timestamp.format(Date().addingTimeInterval(3600))]).stdout == "no runs\n")
        // A date or a time without a zone is read in schedctl's time zone.
        func historySince(_ since: String, zone: String) throws -> Binaries.Result {
            var environment = ProcessInfo.processInfo.environment
            environment["TZ"] = zone
            return try Binaries.run(Binaries.schedctl, ["--socket", d.socket, "history", "--since", since], environment: environment)
        }
        let utc = DateFormatter()
        utc.timeZone = TimeZone(identifier: "UTC")
        utc.locale = Locale(identifier: "en_US_POSIX")
        utc.dateFormat = "yyyy-MM-dd HH:mm"
        let wallAnHourAgo = utc.string(from: Date().addingTimeInterval(-3600))
        let dayBefore = String(utc.string(from: Date().addingTimeInterval(-86_400)).prefix(10))
        let dayAfter = String(utc.string(from: Date().addingTimeInterval(86_400)).prefix(10))
        for since in [wallAnHourAgo, wallAnHourAgo.replacingOccurrences(of: " ", with: "T") + ":00", dayBefore, "Yesterday"] {
            let recent = try historySince(since, zone: "UTC")
            #expect(recent.status == 0 && recent.stdout.contains(" fails "), "\(since): \(recent.stdout)\(recent.stderr)")
        }
        #expect(try historySince(dayAfter, zone: "UTC").stdout == "no runs\n")
        // (Whether the run is since today's midnight depends on the hour the test runs at.)
        #expect(try historySince("today", zone: "UTC").status == 0)
        // Twelve hours behind UTC, the same wall time is twelve hours later: after the run.
        #expect(try historySince(wallAnHourAgo, zone: "Etc/GMT+12").stdout == "no runs\n")
        for bad in ["tomorrow", "2026-02-30", "2026-12-06 24:00", "2026-12-06 7:00"] {
            let refused = try d.ctl(["history", "--since", bad])
            #expect(refused.status == 2 && refused.stderr.contains("--since \"\(bad)\" is neither a duration (e.g. 24h) nor a time"), "\(bad): \(refused.stderr)")
        }
        // A paused job has no next run.
        _ = try d.ctl(["pause", "ok"])
        let paused = try d.ctl(["list"]).stdout.split(separator: "\n").first { $0.hasPrefix("ok ") }.map(String.init) ?? ""
        #expect(paused.split(separator: " ", omittingEmptySubsequences: true).prefix(4) == ["ok", "paused", "@hourly", "-"])
    }

    /// A job file over the daemon's limit on a request is answered 413 before the daemon has read
    /// it all: schedctl shows that answer, not the broken pipe of its unfinished write.
    @Test func aJobFileOverTheRequestLimitGetsTheDaemonsAnswer() throws {
        let d = try Daemon(jobs: Self.jobs)
        let env = (0..<20).map { "\"V\($0)\": \"\(String(repeating: "y", count: 100_000))\"" }.joined(separator: ", ")
        let file = try d.scratch.write("big.json", #"{"jobs": [{"name": "big", "command": ["/bin/true"], "env": {\#(env)}}]}"#)
        let applied = try d.ctl(["apply", file])
        #expect(applied.status == 1)
        #expect(applied.stderr.contains("the request body is over the limit of 1 MiB"), "\(applied.stderr)")
        #expect(!applied.stderr.contains("cannot reach schedd"))
        #expect(try d.ctl(["show", "big"]).status == 1)
    }

    /// A run triggered by another's end says which run in history (`after 1`), and in the row.
    @Test func historyShowsWhichRunTriggeredARun() throws {
        let d = try Daemon(jobs: #"{"jobs": [{"name": "breaks", "shell": "exit 2", "on_failure": "tell"}, {"name": "tell", "shell": "echo $SCHEDD_TRIGGERED_BY_RUN"}]}"#)
        #expect(try d.ctl(["run", "breaks", "--wait"]).status != 0)
        #expect(eventually { (try? d.ctl(["history", "tell"]).stdout.contains("succeeded")) == true })
        let row = try d.ctl(["history", "tell"]).stdout.split(separator: "\n").dropFirst().first ?? ""
        #expect(row.split(separator: " ", omittingEmptySubsequences: true).prefix(4) == ["2", "tell", "after", "1"], "\(row)")
        let json = try d.ctl(["--json", "history", "tell"]).stdout
        #expect(json.contains(#""triggered_by_run": 1"#), "\(json)")
        #expect(try d.ctl(["logs", "tell"]).stdout == "1\n")
    }

    @Test func logsShowsBothStreamsOrOne() throws {
        let d = try Daemon(jobs: #"{"jobs": [{"name": "two", "shell": "echo out1; sleep 0.2; echo err1 >&2; sleep 0.2; echo out2"}]}"#)
        // run --wait: the job's stderr to schedctl's stderr.
        let waited = try d.ctl(["run", "two", "--wait"])
        #expect(waited.stdout == "out1\nout2\n")
        #expect(waited.stderr.contains("err1\n"))
        #expect(try d.ctl(["logs", "two"]).stdout == "out1\nerr1\nout2\n")
        #expect(try d.ctl(["logs", "two", "--stderr"]).stdout == "err1\n")
        #expect(try d.ctl(["logs", "two", "--stdout"]).stdout == "out1\nout2\n")
        #expect(try d.ctl(["logs", "two", "--stdout", "--stderr"]).status == 2)
        #expect(try sqlite(d.db, "SELECT output_streams FROM runs WHERE job = 'two'") == #"[["stdout",5],["stderr",5],["stdout",5]]"#)
    }

    /// A definition made unreadable by hand (sqlite3) neither stops the other jobs nor goes
    /// unnoticed: logged, and listed as invalid with the reason.
    @Test func anUnreadableStoredDefinitionIsShownNotHidden() throws {
        let d = try Daemon(jobs: #"{"jobs": [{"name": "fine", "shell": "true", "schedule": "@hourly"}]}"#)
        let extra = try d.scratch.write("extra.json", #"{"jobs": [{"name": "edited", "shell": "true", "schedule": "@hourly"}]}"#)
        #expect(try d.ctl(["apply", extra]).status == 0)
        _ = try sqlite(d.db, #"UPDATE jobs SET spec = json_set(spec, '$.schedule', '@sometimes') WHERE name = 'edited'"#)
        #expect(try d.ctl(["reload"]).status == 0)
        let list = try d.ctl(["list"]).stdout.split(separator: "\n")
        #expect(list.contains { $0.hasPrefix("edited ") && $0.contains(" invalid") }, "\(list)")
        #expect(list.contains { $0.hasPrefix("fine ") && $0.contains(" active") }, "\(list)")
        #expect(try d.ctl(["show", "edited"]).stdout.contains("@sometimes"))
        #expect(eventually { d.process.stderr().contains("the stored definition of a job cannot be read") })
        #expect(try !d.ctl(["export"]).stdout.contains("edited"))
    }

    /// A job whose run waits for a worker says so in the list (and status names it).
    @Test func aRunWaitingForAWorkerShowsInTheList() throws {
        let d = try Daemon(jobs: #"{"jobs": [{"name": "busy", "shell": "sleep 30"}, {"name": "tick", "shell": "true", "schedule": "* * * * * *"}]}"#,
                           extra: ["--workers", "1"])
        #expect(try d.ctl(["run", "busy", "--force"]).status == 0)
        #expect(eventually {
            (try? d.ctl(["list"]).stdout.split(separator: "\n").contains { $0.hasPrefix("tick ") && $0.contains("1 waiting for a worker") }) == true
        })
        #expect(try d.ctl(["status"]).stdout.contains("1 queued (tick)"))
        _ = try d.ctl(["cancel", "busy"])
        #expect(eventually { (try? d.ctl(["list"]).stdout.contains("waiting for a worker")) == false })
    }

    /// `run` answers once the run has started: while it waits for a worker, schedctl says so
    /// rather than seeming hung, and that interrupting it leaves the run waiting.
    @Test func runOfAJobWaitingForAWorkerSaysWhy() throws {
        let d = try Daemon(jobs: #"{"jobs": [{"name": "busy", "shell": "exec sleep 30"}, {"name": "q", "shell": "echo q"}]}"#,
                           extra: ["--workers", "1"])
        let busy = try d.ctl(["run", "busy"])
        #expect(busy.status == 0 && busy.stderr.isEmpty, "\(busy.stderr)")
        let waiting = try LiveOutputTests.Follower(d, ["run", "q"])
        #expect(eventually {
            waiting.errors.contains("schedctl: the run of q has not started yet: every worker is busy (1 of 1) and 1 run waits: it starts when one is free; interrupting this command leaves it waiting (`schedctl cancel q` drops it)")
        }, "\(waiting.errors)")
        #expect(waiting.process.isRunning && waiting.text.isEmpty)
        _ = try d.ctl(["cancel", "busy"])
        #expect(waiting.finish() == 0)
        #expect(waiting.text.hasPrefix("started q: run "), "\(waiting.text)")
    }

    /// `reload --dry-run` shows what a reload would do with the file as it is now, and does
    /// nothing; a bad file is refused as a reload refuses it.
    @Test func reloadDryRunShowsWhatAReloadWouldChange() throws {
        let d = try Daemon(jobs: #"{"jobs": [{"name": "keep", "shell": "true"}, {"name": "change", "shell": "true"}, {"name": "drop", "shell": "true"}]}"#)
        // A job created over the API that the file comes to name: the file takes it, and says so.
        #expect(try d.ctl(["apply", "-"], input: #"{"jobs": [{"name": "adopted", "shell": "true"}]}"#).status == 0)
        let next = #"{"jobs": [{"name": "keep", "shell": "true"}, {"name": "change", "shell": "false"}, {"name": "add", "shell": "true"}, {"name": "adopted", "shell": "true"}]}"#
        _ = try d.scratch.write("jobs.json", next)
        let dry = try d.ctl(["reload", "--dry-run"])
        #expect(dry.status == 0)
        #expect(dry.stdout == "would be created: add\nwould be updated: change\nwould be removed: drop\nwould be unchanged: adopted, keep\n", "\(dry.stdout)\(dry.stderr)")
        #expect(dry.stderr.contains("schedctl: note: adopted, created over the API, would be the job file's from then on"), "\(dry.stderr)")
        #expect(try sqlite(d.db, "SELECT group_concat(name) FROM (SELECT name FROM jobs ORDER BY name)") == "adopted,change,drop,keep")
        #expect(try sqlite(d.db, "SELECT spec FROM jobs WHERE name = 'change'").contains(#""shell":"true""#))
        #expect(!d.process.stderr().contains("job file reloaded"))
        _ = try d.scratch.write("jobs.json", #"{"jobs": [{"name": "keep", "shel": "true"}]}"#)
        let bad = try d.ctl(["reload", "--dry-run"])
        #expect(bad.status == 2 && bad.stderr.contains(#"shel: unknown field (did you mean "shell"?)"#), "\(bad.stderr)")
        _ = try d.scratch.write("jobs.json", next)
        let reload = try d.ctl(["reload"])
        #expect(reload.stdout == "created: add\nupdated: change\nremoved: drop\nunchanged: adopted, keep\n")
        #expect(reload.stderr.contains("schedctl: note: adopted, created over the API, is the job file's now (it names it): `schedctl apply` and `remove` of it are refused; edit the file"), "\(reload.stderr)")
        #expect(try sqlite(d.db, "SELECT group_concat(name) FROM (SELECT name FROM jobs ORDER BY name)") == "add,adopted,change,keep")
        #expect(try sqlite(d.db, "SELECT origin FROM jobs WHERE name = 'adopted'") == "file")
        #expect(d.process.stderr().contains("schedd.claimed=adopted"))
    }

    /// The word says what the run waits for, and does not guess: for the service it requires,
    /// or for its start to be written while another program holds the database's write lock.
    @Test func runOfAJobWaitingForItsServiceOrTheDatabaseSaysWhich() throws {
        let d = try Daemon(jobs: #"""
            {"jobs": [{"name": "db", "shell": "exec sleep 300", "restart": "always", "ready_after": "1h"},
                      {"name": "report", "shell": "echo report", "requires": ["db"], "requires_wait": "1m"},
                      {"name": "plain", "shell": "echo plain"}]}
            """#)
        let report = try LiveOutputTests.Follower(d, ["run", "report"])
        #expect(eventually { report.errors.contains("the run of report has not started yet: it waits for the services it requires to be ready") },
                "\(report.errors)")
        // `list` and `show` say what the run waits for.
        let listed = try d.ctl(["list"]).stdout.split(separator: "\n").first { $0.hasPrefix("report ") }
        #expect(listed?.contains("a run waits: requires db, which is starting") == true, "\(listed ?? "")")
        #expect(try d.ctl(["show", "report"]).stdout.contains("waiting: a run waits to start: requires db, which is starting"))
        let status = try d.ctl(["status"]).stdout
        #expect(status.contains("0 queued; 1 run waits for what it follows or requires (`schedctl list` says what)"), "\(status)")
        _ = try d.ctl(["cancel", "report"])
        #expect(report.finish() == 1)

        let locker = Process()
        locker.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        locker.arguments = [d.db]
        let input = Pipe()
        locker.standardInput = input
        locker.standardOutput = FileHandle.nullDevice
        try locker.run()
        defer { if locker.isRunning { locker.terminate() }; locker.waitUntilExit() }
        // With a busy timeout: a write of the daemon's at that instant made BEGIN fail at once,
        // and the lock was never held.
        input.fileHandleForWriting.write(Data(".timeout 10000\nBEGIN IMMEDIATE; UPDATE jobs SET updated_at = updated_at WHERE 0; SELECT 1;\n".utf8))
        // Held once another writer is refused.
        #expect(eventually { (try? Binaries.run(URL(fileURLWithPath: "/usr/bin/sqlite3"), [d.db, "BEGIN IMMEDIATE; ROLLBACK;"]))?.status != 0 })
        let plain = try LiveOutputTests.Follower(d, ["run", "plain"])
        #expect(eventually { plain.errors.contains("the run of plain has not started yet: schedd answers once it has") }, "\(plain.errors) \(plain.text)")
        #expect(!plain.errors.contains("services"))
        input.fileHandleForWriting.write(Data("COMMIT;\n".utf8))
        try input.fileHandleForWriting.close()
        #expect(plain.finish(timeout: 30) == 0)
        #expect(plain.text.hasPrefix("started plain: run "), "\(plain.text)")
    }

    /// What a job leaves running in the background goes with its run, and the log says so:
    /// a cron job's `nohup … &` moved here would otherwise vanish without a word.
    @Test func processesARunLeavesBehindAreStoppedAndLogged() throws {
        let d = try Daemon(jobs: #"{"jobs": [{"name": "spawner", "shell": "(setsid sleep 300 >/dev/null 2>&1 &); echo spawned", "kill_grace": "1s"}]}"#)
        let ran = try d.ctl(["run", "spawner", "--wait"])
        #expect(ran.status == 0 && ran.stdout == "spawned\n", "\(ran.stdout)\(ran.stderr)")
        let run = try sqlite(d.db, "SELECT id FROM runs WHERE job = 'spawner'")
        #expect(eventually {
            d.process.stderr().split(separator: "\n").contains {
                $0.contains("stopping processes left by a run") && $0.contains("schedd.job=spawner") && $0.contains("schedd.run_id=\(run)")
            }
        }, "\(d.process.stderr())")
        #expect(try sqlite(d.db, "SELECT status FROM runs WHERE id = \(run)") == "succeeded")
    }

    /// `logs JOB` shows the job's last run that ran: a `run` of a running service, refused and
    /// recorded skipped, has no output, and showed in its place.
    @Test func logsOfAJobIsItsLastRunThatRanNotATriggerSkippedSince() throws {
        let d = try Daemon(jobs: #"{"jobs": [{"name": "svc", "shell": "echo serving; exec sleep 300", "restart": "always"}]}"#)
        #expect(eventually { (try? d.ctl(["logs", "svc"]).stdout) == "serving\n" })
        let refused = try d.ctl(["run", "svc"])
        #expect(refused.status == 1 && refused.stderr.contains("svc is a service and it is running"), "\(refused.stderr)")
        #expect(try sqlite(d.db, "SELECT status FROM runs WHERE job = 'svc' ORDER BY id DESC LIMIT 1") == "skipped")
        let logs = try d.ctl(["logs", "svc"])
        #expect(logs.status == 0 && logs.stdout == "serving\n", "\(logs.stdout)\(logs.stderr)")
        #expect(logs.stderr.contains("is still running"), "\(logs.stderr)")
        // history --wide says why, the table alone only that it was skipped.
        let wide = try d.ctl(["history", "svc", "--wide"]).stdout
        #expect(wide.contains(" skipped: svc is a service and it is running as run "), "\(wide)")
        #expect(!(try d.ctl(["history", "svc"]).stdout.contains("skipped:")))
        // A job that only ever had skipped runs shows the newest, with why.
        let never = try d.scratch.write("never.json", #"{"jobs": [{"name": "never", "shell": "true", "requires": ["gone"]}, {"name": "gone", "shell": "true", "restart": "always", "enabled": false}]}"#)
        #expect(try d.ctl(["apply", never]).status == 0)
        #expect(try d.ctl(["run", "never"]).status == 1)
        #expect(try d.ctl(["logs", "never"]).stderr.contains("skipped: requires gone"))
    }

    /// Removing a job whose run goes on says so, and the job's name still cancels that run
    /// (it answered "no job named" before, and only the run's id reached it).
    @Test func aRemovedJobsRunGoesOnAndIsCancelledByItsName() throws {
        let d = try Daemon(jobs: #"{"jobs": [{"name": "file-job", "shell": "true"}]}"#)
        let file = try d.scratch.write("long.json", #"{"jobs": [{"name": "long", "shell": "sleep 300"}, {"name": "idle", "shell": "true"}]}"#)
        #expect(try d.ctl(["apply", file]).status == 0)
        let started = try d.ctl(["run", "long"])
        #expect(started.stdout.hasPrefix("started long: run "), "\(started.stdout)")
        let id = try #require(Int(started.stdout.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""))
        let removed = try d.ctl(["remove", "long"])
        #expect(removed.stdout == "removed long\nrun \(id) of it goes on to its end (`schedctl cancel long` stops it)\n", "\(removed.stdout)\(removed.stderr)")
        #expect(try d.ctl(["remove", "idle"]).stdout == "removed idle\n")
        #expect(try sqlite(d.db, "SELECT status FROM runs WHERE id = \(id)") == "running")
        let cancelled = try d.ctl(["cancel", "long"])
        #expect(cancelled.status == 0 && cancelled.stdout == "cancelling run \(id)\n", "\(cancelled.stdout)\(cancelled.stderr)")
        #expect(eventually { (try? sqlite(d.db, "SELECT status FROM runs WHERE id = \(id)")) == "cancelled" })
        // Once it has ended, the name is no job's again.
        #expect(eventually { (try? d.ctl(["cancel", "long"]))?.stderr.contains(#"no job named "long""#) == true })
    }

    /// Without a cluster, a job pinned to another node never runs: `list` and `show` say so
    /// rather than "active" with a next run that never comes; one pinned here is active.
    @Test func aJobPinnedToAnotherNodeWithoutAClusterShowsItNeverRunsHere() throws {
        let d = try Daemon(jobs: #"""
            {"jobs": [{"name": "theirs", "shell": "true", "schedule": "@hourly", "node": "db-2"},
                      {"name": "ours", "shell": "true", "schedule": "@hourly", "node": "db-1"},
                      {"name": "any", "shell": "true", "schedule": "@hourly"}]}
            """#, extra: ["--node", "db-1"])
        let rows = try d.ctl(["list"]).stdout.split(separator: "\n")
        let theirs = rows.first { $0.hasPrefix("theirs ") }.map(String.init) ?? ""
        #expect(theirs.contains(#"elsewhere (runs only on node db-2 (its "node"); this schedd is node db-1, with no cluster)"#), "\(theirs)")
        #expect(!theirs.contains(" in "), "\(theirs)")
        #expect(rows.contains { $0.hasPrefix("ours ") && $0.contains(" active ") && $0.contains(" in ") })
        #expect(rows.contains { $0.hasPrefix("any ") && $0.contains(" active ") })
        #expect(try d.ctl(["show", "theirs"]).stdout.hasPrefix("theirs: elsewhere (runs only on node db-2"))
    }

    @Test func statusIsAHealthCheck() throws {
        let d = try Daemon(jobs: #"""
            {"jobs": [{"name": "flaky", "shell": "exit 1", "max_consecutive_failures": 1, "on_failure": "fine"},
                      {"name": "fine", "shell": "true"}]}
            """#)
        #expect(try d.ctl(["status"]).status == 0)
        let events = try LiveOutputTests.Follower(d, ["events", "--job", "flaky"])
        #expect(eventually { events.errors.contains("following schedd's events") })
        let run = try d.ctl(["run", "flaky", "--wait"])
        // The run that paused it says so.
        #expect(run.stderr.contains("schedctl: flaky is paused: its failures in a row reached max_consecutive_failures; `schedctl resume flaky` resumes it"), "\(run.stderr)")
        #expect(run.stderr.contains("schedctl: flaky run 1: its on_failure triggers fine (`schedctl logs fine` once it has run)"), "\(run.stderr)")
        #expect(eventually { events.text.contains(" flaky paused (failure_threshold) by the failure of run 1\n") }, "\(events.text)")
        #expect(events.text.contains(" flaky run 1 triggers fine (on_failure)\n"), "\(events.text)")
        _ = events.finish(timeout: 0)
        #expect(eventually { (try? d.ctl(["status"]).status) == 1 })
        let status = try d.ctl(["status"])
        #expect(status.stdout.contains("health:    1 job needs attention\n  flaky: paused (failure_threshold)"))
        let json = try d.ctl(["status", "--json"])
        #expect(json.status == 1)
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(object?["healthy"] as? Bool == false)
        #expect(((object?["jobs"] as? [String: Any])?["problems"] as? [[String: Any]])?.first?["job"] as? String == "flaky")
        // How runs' processes are tracked, and the same in words.
        let tracking = object?["process_tracking"] as? [String: Any]
        #expect(["cgroup", "proc"].contains(tracking?["mode"] as? String ?? ""))
        #expect(status.stdout.contains("processes: "))
        if tracking?["mode"] as? String == "cgroup" {
            // The daemon found the helper its build put beside it, so the slower shell is not named.
            let entry = tracking?["entry"] as? String
            #expect(entry?.hasSuffix("/schedd-cgroup-exec") == true, "entered through \(entry ?? "nothing")")
            #expect(!status.stdout.contains("entered through"))
        }
        _ = try d.ctl(["resume", "flaky"])
        #expect(try d.ctl(["status"]).status == 0)
    }

    /// A job whose runs cannot start here as things stand (a program or working_dir not there)
    /// is applied with a warning naming the job, the field and what is wrong; once, not at each
    /// apply of the same definition; a job pinned to another node is that node's to run.
    @Test func anApplyWarnsOfAProgramOrDirectoryThatIsNotThere() throws {
        let d = try Daemon(jobs: #"{"jobs": []}"#)
        let file = try d.scratch.write("more.json", #"""
            {"jobs": [{"name": "typo", "command": ["/usr/bin/rsyncc", "-a"]},
                      {"name": "unknown", "command": ["no-such-program-xyz"]},
                      {"name": "gone", "shell": "true", "working_dir": "/nonexistent/schedd-dir"},
                      {"name": "svc", "command": ["sleep", "600"], "restart": "always", "ready_check": ["./check"], "working_dir": "/tmp"},
                      {"name": "fine", "command": ["true"]},
                      {"name": "dollar", "command": ["true"], "env": {"PATH": "$PATH:/opt/bin"}},
                      {"name": "elsewhere", "command": ["/opt/only-on-db-2"], "node": "db-2"}]}
            """#)
        let dry = try d.ctl(["apply", "--dry-run", file])
        #expect(dry.status == 0 && dry.stderr.contains("schedctl: warning: typo: "), "\(dry.stderr)")
        let applied = try d.ctl(["apply", file])
        #expect(applied.status == 0, "\(applied.stderr)")
        let warnings = applied.stderr.split(separator: "\n").map(String.init)
        #expect(warnings == [
            #"schedctl: warning: typo: command: "/usr/bin/rsyncc" is not found or not executable: its runs fail until it is"#,
            #"schedctl: warning: unknown: command: "no-such-program-xyz" is not found or not executable in PATH (/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin): its runs fail until it is"#,
            #"schedctl: warning: gone: working_dir: /nonexistent/schedd-dir: No such file or directory: its runs fail until it is one"#,
            #"schedctl: warning: svc: ready_check: "./check" is not found or not executable (from working_dir /tmp): the service is never ready until it is"#,
            #"schedctl: warning: dollar: env.PATH: "$PATH:/opt/bin" is taken as written, nothing expands the $: write the whole value"#,
            #"schedctl: warning: dollar: command: "true" is not found or not executable in PATH ($PATH:/opt/bin): its runs fail until it is"#,
        ], "\(applied.stderr)")
        #expect(try d.ctl(["list"]).stdout.contains("typo "))
        #expect(d.process.stderr().contains("a job's runs cannot start as things stand schedd.job=typo"), "\(d.process.stderr())")
        // Said once: the same definitions again change nothing and say nothing.
        let again = try d.ctl(["apply", file])
        #expect(again.status == 0 && again.stderr.isEmpty, "\(again.stderr)")
    }

    /// An empty list says so, as an empty history does.
    @Test func listAndHistoryOfNothingSaySo() throws {
        let d = try Daemon(jobs: #"{"jobs": []}"#)
        #expect(try d.ctl(["list"]).stdout == "no jobs\n")
        #expect(try d.ctl(["history"]).stdout == "no runs\n")
    }

    /// Every route of docs/openapi.yaml is served (a missing route answers "no such endpoint").
    @Test func everyDocumentedRouteIsServed() throws {
        let d = try Daemon(jobs: Self.jobs)
        let routes = [("GET", "/v1/status"), ("GET", "/v1/jobs"), ("POST", "/v1/jobs"), ("GET", "/v1/jobs/ok"),
                      ("PUT", "/v1/jobs/ok"), ("DELETE", "/v1/jobs/nope"), ("POST", "/v1/jobs/nope/run"),
                      ("POST", "/v1/jobs/ok/cancel"), ("POST", "/v1/jobs/ok/pause"), ("POST", "/v1/jobs/ok/resume"),
                      ("GET", "/v1/export"), ("GET", "/v1/runs"), ("GET", "/v1/runs/1"), ("POST", "/v1/runs/1/cancel"),
                      ("POST", "/v1/reload")]  // /v1/events streams: see eventsStreamRunsAsTheyHappen
        for (method, path) in routes {
            let reply = d.raw(Array("\(method) \(path) HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8))
            #expect(reply.hasPrefix("HTTP/1.1 "), "\(method) \(path)")
            #expect(!reply.contains("no such endpoint"), "\(method) \(path)")
            #expect(!reply.hasPrefix("HTTP/1.1 405"), "\(method) \(path)")
        }
    }

    /// A known path asked with a method it does not have answers 405 with the ones it has; an
    /// unknown path stays 404.
    @Test func aWrongMethodOnAKnownPathAnswers405WithAllow() throws {
        let d = try Daemon(jobs: Self.jobs)
        func ask(_ method: String, _ path: String) -> String {
            d.raw(Array("\(method) \(path) HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8))
        }
        let status = ask("DELETE", "/v1/status")
        #expect(status.hasPrefix("HTTP/1.1 405"), "\(status)")
        #expect(status.lowercased().contains("\r\nallow: get, head\r\n"), "\(status)")
        #expect(status.contains(#""code":"method_not_allowed""#))
        let job = ask("PATCH", "/v1/jobs/ok")
        #expect(job.hasPrefix("HTTP/1.1 405"), "\(job)")
        #expect(job.lowercased().contains("\r\nallow: get, head, put, delete\r\n"), "\(job)")
        #expect(ask("GET", "/v1/jobs/ok/run").lowercased().contains("\r\nallow: post\r\n"))
        #expect(ask("TRACE", "/").hasPrefix("HTTP/1.1 405"))
        // HEAD wherever GET is (`curl -I`): GET's status and headers, no body.
        let head = ask("HEAD", "/v1/status")
        #expect(head.hasPrefix("HTTP/1.1 200"), "\(head)")
        #expect(head.lowercased().contains("content-type: application/json") && head.hasSuffix("\r\n\r\n"), "\(head)")
        #expect(ask("HEAD", "/v1/jobs/nope").hasPrefix("HTTP/1.1 404"))
        #expect(ask("HEAD", "/v1/jobs/ok/run").lowercased().contains("\r\nallow: post\r\n"))
        let unknown = ask("GET", "/v1/nothing")
        #expect(unknown.hasPrefix("HTTP/1.1 404"), "\(unknown)")
        #expect(unknown.contains("no such endpoint: GET /v1/nothing"))
        #expect(ask("DELETE", "/v1/jobs/ok/run/x").hasPrefix("HTTP/1.1 404"))
    }

    /// A yes/no query parameter that is neither yes nor no is refused, naming it, and changes
    /// nothing: `?prune=yes` must not quietly keep the jobs it was meant to remove.
    @Test func aQueryParameterThatIsNotTakenOrNotABooleanIsRefused() throws {
        let d = try Daemon(jobs: Self.jobs)
        func ask(_ method: String, _ target: String, _ body: String = "") -> String {
            d.raw(Array("\(method) \(target) HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)".utf8))
        }
        #expect(ask("PUT", "/v1/jobs/by-api", #"{"name": "by-api", "shell": "true"}"#).hasPrefix("HTTP/1.1 200"))
        let file = #"{"jobs": [{"name": "added-later", "shell": "true"}]}"#
        let prune = ask("POST", "/v1/jobs?prune=yes", file)
        #expect(prune.hasPrefix("HTTP/1.1 400"), "\(prune)")
        #expect(prune.contains(#"prune \"yes\" is not a boolean"#), "\(prune)")
        let force = ask("POST", "/v1/jobs/ok/run?force=maybe")
        #expect(force.contains(#"force \"maybe\" is not a boolean"#), "\(force)")
        #expect(ask("GET", "/v1/events?output=2").hasPrefix("HTTP/1.1 400"))
        #expect(ask("GET", "/v1/runs?job=ok").contains(#""runs":[]"#))
        var list = try d.ctl(["list"]).stdout
        #expect(list.contains("by-api") && !list.contains("added-later"))
        // A bare flag is yes; 0 and false are no.
        let dryRun = ask("POST", "/v1/jobs?prune&dry_run", file)
        #expect(dryRun.hasPrefix("HTTP/1.1 200"), "\(dryRun)")
        #expect(dryRun.contains(#""dry_run":true"#) && dryRun.contains(#""removed":["by-api"]"#), "\(dryRun)")
        let applied = ask("POST", "/v1/jobs?prune=0&dry_run=false", file)
        #expect(applied.contains(#""created":["added-later"]"#) && applied.contains(#""removed":[]"#), "\(applied)")
        list = try d.ctl(["list"]).stdout
        #expect(list.contains("by-api") && list.contains("added-later"))

        // A parameter the endpoint does not take, or one given twice, is refused too: a
        // misspelt filter would otherwise answer with every run, and a misspelt `prune`
        // would apply without it.
        let misspelt = ask("GET", "/v1/runs?stauts=failed")
        #expect(misspelt.hasPrefix("HTTP/1.1 400"), "\(misspelt)")
        #expect(misspelt.contains(#"unknown query parameter \"stauts\" (did you mean \"status\"?): this endpoint takes job, status, since, limit, before"#), "\(misspelt)")
        let pruned = ask("POST", "/v1/jobs?prnue=1", #"{"jobs": [{"name": "nothing-else", "shell": "true"}]}"#)
        #expect(pruned.hasPrefix("HTTP/1.1 400") && pruned.contains(#"did you mean \"prune\"?"#), "\(pruned)")
        let none = ask("GET", "/v1/status?verbose=1")
        #expect(none.contains(#"unknown query parameter \"verbose\": this endpoint takes none"#), "\(none)")
        let twice = ask("GET", "/v1/runs?limit=2&limit=3")
        #expect(twice.hasPrefix("HTTP/1.1 400") && twice.contains(#"query parameter \"limit\" is given more than once"#), "\(twice)")
        #expect(ask("GET", "/v1/runs?before=-3").contains(#"before \"-3\" is not a run id"#))
        // A job name never seen: events of it would never come.
        let typo = ask("GET", "/v1/events?job=no-such-job")
        #expect(typo.hasPrefix("HTTP/1.1 404") && typo.contains(#"no job named \"no-such-job\" and no runs of one"#), "\(typo)")
        // The page takes whatever a link adds.
        #expect(ask("GET", "/?utm_source=x").hasPrefix("HTTP/1.1 200"))
        list = try d.ctl(["list"]).stdout
        #expect(list.contains("by-api") && list.contains("added-later") && !list.contains("nothing-else"))
    }

    /// `PUT /v1/jobs/NAME` takes its name from the path when the body leaves it out; a body
    /// that is not one job is refused, saying what it is.
    @Test func putTakesTheJobsNameFromThePath() throws {
        let d = try Daemon(jobs: Self.jobs)
        func ask(_ method: String, _ target: String, _ body: String = "") -> String {
            d.raw(Array("\(method) \(target) HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)".utf8))
        }
        let created = ask("PUT", "/v1/jobs/unnamed", #"{"shell": "true", "description": "named by its path"}"#)
        #expect(created.hasPrefix("HTTP/1.1 200") && created.contains(#""created":["unnamed"]"#), "\(created)")
        #expect(try d.ctl(["show", "unnamed"]).stdout.contains("named by its path"))
        let array = ask("PUT", "/v1/jobs/listed", "[]")
        #expect(array.hasPrefix("HTTP/1.1 400") && array.contains("the body must be one job, a JSON object, not an array"), "\(array)")
        let other = ask("PUT", "/v1/jobs/mine", #"{"name": "other", "shell": "true"}"#)
        #expect(other.contains(#"the job's \"name\" must be \"mine\", as in the path"#), "\(other)")
        #expect(!(try d.ctl(["list"]).stdout.contains("listed")))
    }

    @Test func eventsStreamRunsAsTheyHappen() throws {
        let d = try Daemon(jobs: Self.jobs)
        let output = d.scratch.path("events.txt")
        let events = Process()
        events.executableURL = Binaries.schedctl
        events.arguments = ["--socket", d.socket, "events", "--job", "ok"]
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        events.standardOutput = FileHandle(forWritingAtPath: output)
        let errors = d.scratch.path("events.err")
        _ = FileManager.default.createFile(atPath: errors, contents: nil)
        events.standardError = FileHandle(forWritingAtPath: errors)
        try events.run()
        defer { if events.isRunning { events.terminate() }; events.waitUntilExit() }
        // The word that the subscription is in place, not a pause.
        #expect(eventually { ((try? String(contentsOfFile: errors, encoding: .utf8)) ?? "").contains("following schedd's events") })
        #expect(try d.ctl(["run", "ok", "--wait"]).status == 0)
        #expect(try d.ctl(["run", "fails", "--wait"]).status == 3)
        #expect(eventually {
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            // Not "run 1": `ok`'s @hourly may fire first when the test spans the top of an hour.
            let lines = text.split(separator: "\n")
            return lines.contains { $0.contains(" ok run ") && $0.contains(" started (manual)") }
                && lines.contains { $0.contains(" ok run ") && $0.contains(" succeeded after ") }
        })
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        #expect(!text.contains("fails"))
        // The daemon stops promptly even with a client streaming.
        #expect(d.process.terminate(timeout: 10) == 0)
        events.waitUntilExit()
        #expect(events.terminationStatus == 0)
    }

    /// `events --output` prints the runs' output as whole lines under their run and stream,
    /// however the chunks cut them, and a last line without a newline before the run's end.
    @Test func eventsWithOutputPrintTheRunsLinesWhole() throws {
        let d = try Daemon(jobs: #"""
            {"jobs": [{"name": "talk", "shell": "echo one; printf 'two'; sleep 0.3; echo ' halves'; echo oops >&2; printf 'no newline'"}]}
            """#)
        let events = try LiveOutputTests.Follower(d, ["events", "--output"])
        #expect(eventually { events.errors.contains("following schedd's events") })
        let started = try d.ctl(["run", "talk", "--wait"])
        #expect(started.status == 0)
        #expect(eventually { events.text.contains(" succeeded after ") }, "\(events.text)")
        let lines = events.text.split(separator: "\n").map { $0.split(separator: " ", maxSplits: 1).last.map(String.init) ?? "" }
        let run = try #require(lines.first { $0.hasPrefix("talk run ") && $0.hasSuffix(" started (manual)") }?.split(separator: " ")[2])
        let printed = lines.filter { $0.hasPrefix("talk run \(run) std") }
        #expect(printed == ["talk run \(run) stdout: one", "talk run \(run) stdout: two halves", "talk run \(run) stderr: oops",
                            "talk run \(run) stdout: no newline"], "\(events.text)")
        #expect(lines.firstIndex { $0.hasSuffix("stdout: no newline") }! < lines.firstIndex { $0.contains(" succeeded after ") }!)
        // Without --output, no output.
        let quiet = try LiveOutputTests.Follower(d, ["events"])
        #expect(eventually { quiet.errors.contains("following schedd's events") })
        #expect(try d.ctl(["run", "talk", "--wait"]).status == 0)
        #expect(eventually { quiet.text.contains(" succeeded after ") })
        #expect(!quiet.text.contains("stdout:"), "\(quiet.text)")
    }

    /// `GET /v1/jobs` is answered from the cached list ahead of the router; on every kind of
    /// connection it must answer as the router would, in the order asked.
    @Test func theJobListIsAnsweredInOrderOnEveryKindOfConnection() throws {
        let d = try Daemon(jobs: Self.jobs)
        let list = "GET /v1/jobs HTTP/1.1\r\nHost: x\r\n\r\n"
        let closing = "GET /v1/jobs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        // The first asks fill the cache; the ones below are answered from it.
        #expect(try Self.responses(d.raw(Array(closing.utf8))).map(\.status) == [200])

        // Pipelined behind a request the router answers: the answers keep the order.
        let pipelined = try Self.responses(d.raw(Array(("GET /v1/runs/999999 HTTP/1.1\r\nHost: x\r\n\r\n" + list
            + "GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n" + closing).utf8)))
        #expect(pipelined.map(\.status) == [404, 200, 200, 200])
        if pipelined.count == 4 {
            #expect(pipelined[0].body.contains("no run 999999"))
            #expect(pipelined[1].body.contains(#""name":"ok""#) && pipelined[3].body == pipelined[1].body)
            #expect(pipelined[2].body.contains("workers_total"))
            #expect(pipelined[1].headers.contains("Date: ") && pipelined[1].headers.contains("Content-Type: application/json"))
        }
        // Kept alive, handed to the router in the middle, then closed by the client's last request.
        let kept = try Self.responses(d.raw(Array((list + list + "GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n" + closing).utf8)))
        #expect(kept.map(\.status) == [200, 200, 200, 200])
        #expect(kept.count == 4 && kept[2].body.contains("workers_total") && kept[3].body == kept[0].body)
        // A client that half-closes after its request gets the whole answer, then the end.
        let began = ContinuousClock.now
        let halfClosed = try Self.responses(d.raw(Array(list.utf8), halfClose: true))
        #expect(halfClosed.map(\.status) == [200])
        #expect(ContinuousClock.now - began < .seconds(4))
        // A change is seen by the next ask.
        #expect(try d.ctl(["pause", "ok"]).status == 0)
        let after = try Self.responses(d.raw(Array(closing.utf8)))
        let jobs = try JSONSerialization.jsonObject(with: Data((after.first?.body ?? "").utf8)) as? [[String: Any]]
        #expect(jobs?.first { $0["name"] as? String == "ok" }?["state"] as? String == "paused")
        // Garbage as the first bytes of a connection is still a 400.
        #expect(d.raw(Array("\u{1}\u{2}garbage\r\n\r\n".utf8)).hasPrefix("HTTP/1.1 400"))
        #expect(try d.ctl(["status"]).status == 0)
    }

    struct RawResponse {
        var status: Int
        var headers: String
        var body: String
    }

    /// The HTTP/1.1 responses in `text`, each with a `Content-Length`; throws on anything else.
    static func responses(_ text: String) throws -> [RawResponse] {
        var rest = Substring(text)
        var found: [RawResponse] = []
        while !rest.isEmpty {
            guard let end = rest.range(of: "\r\n\r\n") else { throw POSIXError(.EBADMSG) }
            let head = String(rest[..<end.lowerBound])
            let lines = head.split(separator: "\r\n")
            guard let first = lines.first, first.hasPrefix("HTTP/1.1 "), let status = Int(first.dropFirst(9).prefix(3)),
                  let lengthLine = lines.first(where: { $0.lowercased().hasPrefix("content-length:") }),
                  let length = Int(lengthLine.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) else {
                throw POSIXError(.EBADMSG)
            }
            let bodyBytes = rest[end.upperBound...].utf8.prefix(length)
            guard bodyBytes.count == length else { throw POSIXError(.EBADMSG) }
            found.append(RawResponse(status: status, headers: head, body: String(decoding: bodyBytes, as: UTF8.self)))
            rest = Substring(rest[end.upperBound...].utf8.dropFirst(length))
        }
        return found
    }

    @Test func unreachableDaemonExits3() throws {
        let result = try Binaries.run(Binaries.schedctl, ["--socket", "/tmp/schedd-none-\(UUID().uuidString).sock", "status"])
        #expect(result.status == 3)
        #expect(result.stderr.contains("cannot reach schedd at /tmp/schedd-none-"))
    }

    /// A Unix socket listening at `path` that the test itself answers (or does not).
    static func listener(at path: String, backlog: Int32) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0, UnixSocketAddress.with(path, { bind(fd, $0, $1) }) == 0, listen(fd, backlog) == 0 else {
            let code = errno
            if fd >= 0 { close(fd) }
            throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EIO)
        }
        return fd
    }

    /// A socket whose listener accepts nothing and whose queue of connections is full (a
    /// daemon that is stopped or overloaded): schedctl says so instead of blocking for ever,
    /// shell completion gives up, and a new schedd does not take the socket over.
    @Test func aListenerThatAcceptsNothingIsReportedNotWaitedFor() throws {
        let scratch = try Scratch()
        let path = scratch.path("stuck.sock")
        let listener = try Self.listener(at: path, backlog: 0)
        defer { close(listener) }
        var queued: [Int32] = []
        defer { queued.forEach { close($0) } }
        while queued.count < 64 {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            guard UnixSocketAddress.with(path, { connect(fd, $0, $1) }) == 0 else {
                #expect(errno == EAGAIN)
                close(fd)
                break
            }
            queued.append(fd)
        }
        #expect(queued.count < 64, "the listener's queue never filled")

        let status = try Binaries.run(Binaries.schedctl, ["--socket", path, "status"], timeout: 60)
        #expect(status.status == 3, "\(status.stderr)")
        #expect(status.stderr.contains("did not accept the connection within 10s"), "\(status.stderr)")
        let events = try Binaries.run(Binaries.schedctl, ["--socket", path, "events"], timeout: 60)
        #expect(events.status == 3, "\(events.stderr)")
        let completed = try Binaries.run(Binaries.schedctl, ["---completion", "show", "--", "positional@0", "4", "1", "schedctl", "--socket", path, "show", "b"], timeout: 60)
        #expect(completed.status == 0 && completed.stdout.isEmpty, "\(completed.stdout) \(completed.stderr)")
        let daemon = try Binaries.run(Binaries.schedd, ["--db", scratch.path("s.db"), "--socket", path], timeout: 60)
        #expect(daemon.status == 1)
        #expect(daemon.stderr.contains("another schedd is already serving"), "\(daemon.stderr)")
    }

    /// An event stream that goes silent (a daemon stopped with SIGSTOP, or hung) ends with an
    /// error once no keep-alive has come for a minute, instead of waiting for ever.
    @Test func aStreamThatGoesSilentIsGivenUp() throws {
        let scratch = try Scratch()
        let path = scratch.path("silent.sock")
        let listener = try Self.listener(at: path, backlog: 4)
        defer { close(listener) }
        // Answers the stream's head and its first comment, as schedd does, then nothing.
        let testEnded = DispatchSemaphore(value: 0)
        let server = Thread {
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { return }
            defer { close(fd) }
            var request = [UInt8](repeating: 0, count: 4096)
            _ = request.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            let head = Array("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n11\r\n: schedd events\n\n\r\n".utf8)
            _ = head.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            testEnded.wait()
        }
        server.start()
        defer { testEnded.signal() }
        let events = try Binaries.run(Binaries.schedctl, ["--socket", path, "events"], timeout: 150)
        #expect(events.status == 1, "\(events.stderr)")
        #expect(events.stderr.contains("schedd sent nothing for 60s on an open stream"), "\(events.stderr)")
    }

    @Test func malformedRequestsAreAnsweredAndTheDaemonKeepsServing() throws {
        let d = try Daemon(jobs: Self.jobs)
        // A client that sends half a request and stalls does not hold up the others.
        let staller = d.socket_connect()
        _ = Array("GET /v1/status HTTP/1.1\r\nHost: x\r\n".utf8).withUnsafeBytes { Glibc.send(staller, $0.baseAddress, $0.count, 0) }
        defer { close(staller) }

        let notFound = d.raw(Array("GET /v1/nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8))
        #expect(notFound.hasPrefix("HTTP/1.1 404"))
        #expect(notFound.contains(#""code":"not_found""#))
        let badJSON = d.raw(Array("POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{bad}".utf8))
        #expect(badJSON.hasPrefix("HTTP/1.1 400"))
        #expect(badJSON.contains("invalid_job_file"))
        let wrongType = d.raw(Array("PUT /v1/jobs/ok HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\nConnection: close\r\n\r\n{\"name\": \"ok\", \"shell\": 42}   ".utf8))
        #expect(wrongType.hasPrefix("HTTP/1.1 400"))
        let big = Array("POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\nConnection: close\r\n\r\n".utf8) + [UInt8](repeating: 0x20, count: 2_000_000)
        let tooLarge = d.raw(big)
        #expect(tooLarge.hasPrefix("HTTP/1.1 413") && tooLarge.contains("a larger job file is applied by schedd itself: its --config"), "\(tooLarge.prefix(400))")
        let garbage = d.raw((0..<4096).map { _ in UInt8.random(in: 0...255) })
        #expect(!garbage.hasPrefix("HTTP/1.1 2"))

        let status = try d.ctl(["status"])
        #expect(status.status == 0)
        #expect(d.process.process.isRunning)
    }

    @Test(.enabled(if: geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"), "needs root and setpriv"))
    func anotherUserIsRefusedEvenWithALooseSocketMode() throws {
        let d = try Daemon(jobs: Self.jobs)
        // The mode is 0660; loosen it so that only the credential check stands in the way.
        chmod(d.socket, 0o666)
        chmod((d.socket as NSString).deletingLastPathComponent, 0o755)
        let result = try Binaries.run(URL(fileURLWithPath: "/usr/bin/setpriv"),
                                      ["--reuid=65534", "--regid=65534", "--clear-groups", Binaries.schedctl.path, "--socket", d.socket, "status"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("only root, the daemon's user and members of the admin group"))
        // The job list is answered from a cache ahead of the router once asked for: the check
        // still stands in front of it.
        #expect(try d.ctl(["list"]).status == 0)
        let list = try Binaries.run(URL(fileURLWithPath: "/usr/bin/setpriv"),
                                    ["--reuid=65534", "--regid=65534", "--clear-groups", Binaries.schedctl.path, "--socket", d.socket, "list"])
        #expect(list.status == 1)
        #expect(list.stderr.contains("only root, the daemon's user and members of the admin group"))
    }

    @Test(.enabled(if: geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"), "needs root and setpriv"))
    func aSocketTheUserMayNotOpenIsAPermissionErrorNotADaemonThatIsDown() throws {
        let d = try Daemon(jobs: Self.jobs)
        chmod((d.socket as NSString).deletingLastPathComponent, 0o755)
        chmod(d.socket, 0o600)
        let result = try Binaries.run(URL(fileURLWithPath: "/usr/bin/setpriv"),
                                      ["--reuid=65534", "--regid=65534", "--clear-groups", Binaries.schedctl.path, "--socket", d.socket, "status"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("permission denied on schedd's socket \(d.socket)"))
        #expect(!result.stderr.contains("start it with"))
    }

    /// A `POST /run` waiting for a worker when SIGTERM comes: the engine drops the queued run
    /// (the request is answered 409) and schedd exits after the grace period. With the socket
    /// shut down ahead of the engine, the waiting request held it open and schedd never exited.
    @Test func shutdownWithARunRequestWaitingForAWorker() throws {
        let d = try Daemon(jobs: #"{"jobs": [{"name": "busy", "shell": "sleep 30"}, {"name": "next", "shell": "true"}]}"#,
                           extra: ["--workers", "1", "--shutdown-grace", "1s"])
        #expect(try d.ctl(["run", "busy"]).status == 0)
        let reply = Mutex<String?>(nil)
        let socket = d.socket
        let request = Thread {
            let text = Daemon.raw(socket: socket, Array("POST /v1/jobs/next/run HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8), timeout: 60)
            reply.withLock { $0 = text }
        }
        request.start()
        // The barrier: the request's run is in the queue, waiting for the worker.
        #expect(eventually { (try? d.ctl(["status"]).stdout.contains("0/1 busy, 1 queued")) == true
                             || (try? d.ctl(["status"]).stdout.contains("1/1 busy, 1 queued")) == true })
        kill(d.process.pid, SIGTERM)
        #expect(d.process.waitForExit(timeout: 30) == 0)
        #expect(eventually { reply.withLock { $0 } != nil })
        #expect(reply.withLock { $0 }?.contains("409") == true)
        #expect(reply.withLock { $0 }?.contains("was not started: schedd is shutting down") == true)
        #expect(try sqlite(d.db, "SELECT status FROM runs WHERE job = 'busy'") == "cancelled")
    }

    /// A client subscribed to live output that never reads: the daemon's memory stays bounded
    /// (it grew by the whole output before), the run is not held up, and the client, once it
    /// reads, finds a last `dropped` event. The output is NULs, which JSON writes as six bytes
    /// each: bounded by frames alone, 96 MiB waited for this client; by bytes, 4 MiB.
    @Test func aSubscriberThatDoesNotReadIsDroppedNotBuffered() throws {
        let d = try Daemon(jobs: #"{"jobs": [{"name": "flood", "shell": "head -c 200000000 /dev/zero"}]}"#)
        let fd = UnixSocketAddress.connectStream(d.socket)
        #expect(fd >= 0)
        defer { close(fd) }
        // A small receive buffer, so that the kernel does not absorb the stream for the client.
        var size: Int32 = 4096
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let request = Array("GET /v1/events?output=true HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var buffer = [UInt8](repeating: 0, count: 65536)
        // The daemon's word that it is subscribed: the stream's opening comment.
        var head: [UInt8] = []
        while !String(decoding: head, as: UTF8.self).contains(": schedd events") {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 512, 0) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            head += buffer[..<n]
        }
        #expect(try d.ctl(["run", "flood"]).status == 0)
        #expect(eventually(timeout: 120) { (try? sqlite(d.db, "SELECT status FROM runs WHERE job = 'flood'")) == "succeeded" })
        let peakKiB = procStatusKiB(d.process.pid, "VmHWM") ?? 0
        #expect(peakKiB > 0 && peakKiB < 150 * 1024, "peak RSS \(peakKiB) KiB for 200 MB of output")
        // Now read what was queued for this client: a bounded amount, ending with the word
        // that it was dropped.
        var tail: [UInt8] = []
        var total = 0
        while total < 128 << 20 {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 65536, 0) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            total += n
            tail += buffer[..<n]
            if tail.count > 1 << 16 { tail.removeFirst(tail.count - (1 << 16)) }
        }
        // 4 MiB of frames, what the socket and the server's last write hold, and the end.
        #expect(total < 8 << 20, "\(total) bytes were queued for a client that did not read")
        let endsDropped = String(decoding: tail.suffix(4096), as: UTF8.self).contains("event: dropped")
        #expect(endsDropped, "the stream did not end with a dropped event")
    }

    @Test func aRetryIsNumberedFromOne() throws {
        let d = try Daemon(jobs: #"{"jobs": [{"name": "r", "shell": "exit 1", "retries": 1, "retry_backoff": "0s"}]}"#)
        _ = try d.ctl(["run", "r"])
        #expect(eventually { (try? sqlite(d.db, "SELECT count(*) FROM runs WHERE job = 'r' AND status = 'failed'")) == "2" })
        let rows = try d.ctl(["history", "r"]).stdout.split(separator: "\n").dropFirst()
        // The retry names the attempt it follows.
        let first = rows.last?.split(separator: " ").first.map(String.init) ?? "?"
        #expect(rows.first?.contains("retry #1 after \(first) ") == true, "\(rows)")
        #expect(rows.last?.contains(" manual ") == true, "\(rows)")
    }

    @Test func aSecondDaemonOnTheSameDatabaseOrSocketRefusesToStart() throws {
        let d = try Daemon(jobs: Self.jobs)
        let sameDB = try Binaries.run(Binaries.schedd, ["--db", d.db, "--socket", d.scratch.path("other.sock")])
        #expect(sameDB.status == 1)
        #expect(sameDB.stderr.contains("another schedd is already using the database"))
        let sameSocket = try Binaries.run(Binaries.schedd, ["--db", d.scratch.path("other.db"), "--socket", d.socket])
        #expect(sameSocket.status == 1)
        #expect(sameSocket.stderr.contains("another schedd is already serving"))
        // Refused before its database was made, it leaves nothing behind (its lock file neither).
        let left = try FileManager.default.contentsOfDirectory(atPath: d.scratch.url.path).filter { $0.hasPrefix("other.db") }
        #expect(left.isEmpty, "\(left)")
    }
}
