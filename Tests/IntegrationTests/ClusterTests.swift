import Foundation
import PostgresHarness
@testable import Scheduler
import SchedulerAPI
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Several real `schedd` nodes on one throwaway PostgreSQL: what they run is checked against a
/// file the jobs append to, outside the database, as well as against the database.
@Suite(.ownThreads, .postgres, .enabled(if: PostgresServer.unavailableReason == nil, "needs a PostgreSQL server: \(PostgresServer.unavailableReason ?? "")"))
struct ClusterTests {
    /// Nodes on one new database, each with its own socket and log; stopped when the test ends.
    final class Cluster {
        let server: PostgresServer
        let url: String
        let database: String
        let scratch: Scratch
        var nodes: [String: DaemonProcess] = [:]

        init() throws {
            server = try #require(PostgresServer.current)
            url = try server.newDatabaseNow()
            database = String(url.split(separator: "?")[0].split(separator: "/").last ?? "")
            scratch = try Scratch()
        }

        func start(_ name: String, config: String, lease: String = "3s", extra: [String] = [],
                   environment: [String: String]? = nil) throws -> DaemonProcess {
            let node = try DaemonProcess(["--postgres", url, "--node", name, "--config", config, "--lease", lease, "--shutdown-grace", "1s"] + extra,
                                         log: scratch.path("\(name).log"), environment: environment)
            nodes[name] = node
            return node
        }

        /// Starts two nodes and waits until each serves (an issue, with its log, for one that
        /// does not).
        func startAll(_ first: String, _ second: String, config: String,
                      sourceLocation: SourceLocation = #_sourceLocation) throws -> (DaemonProcess, DaemonProcess) {
            let nodes = (try start(first, config: config), try start(second, config: config))
            #expect(nodes.0.waitUntilStarted(), "\(nodes.0.stderr())", sourceLocation: sourceLocation)
            #expect(nodes.1.waitUntilStarted(), "\(nodes.1.stderr())", sourceLocation: sourceLocation)
            return nodes
        }

        func sql(_ text: String) throws -> String { try server.psql(database, text) }

        func ctl(_ node: String, _ arguments: [String]) throws -> Binaries.Result {
            try Binaries.run(Binaries.schedctl, ["--socket", nodes[node]!.socketPath] + arguments)
        }

        deinit {
            for node in nodes.values { _ = node.terminate() }
            // A node killed by the test leaves its runs' processes behind (nobody stops them):
            // they carry the cluster's instance marker in their environment.
            guard let clusterID = try? sql("SELECT value FROM meta WHERE key = 'cluster_id'"), !clusterID.isEmpty else { return }
            let marker = Array("SCHEDD_INSTANCE=\(clusterID.prefix(12))-".utf8)
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
                guard let pid = Int32(entry), let environment = FileManager.default.contents(atPath: "/proc/\(entry)/environ") else { continue }
                if environment.split(separator: 0).contains(where: { $0.starts(with: marker) }) { kill(pid, SIGKILL) }
            }
            Self.removeRunCgroups(instancePrefix: "schedd-\(clusterID.prefix(12))-")
        }

        /// The cgroups of the runs of a killed node stay (a node sweeps its own at its next start,
        /// which a test's node never has): removed once the processes killed above have left them.
        /// The nodes, children of the test, made them in its own cgroup.
        static func removeRunCgroups(instancePrefix: String) {
            guard let mount = RunCgroups.cgroup2Mount(), let own = RunCgroups.ownCgroup() else { return }
            let base = own == "/" ? mount : mount + own
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []).filter { $0.hasPrefix(instancePrefix) }
            for name in names {
                let deadline = Date().addingTimeInterval(5)
                while rmdir("\(base)/\(name)") != 0 && errno == EBUSY && Date() < deadline { usleep(20_000) }
            }
        }
    }

    /// Each node evaluates every schedule, cron and interval alike, from the moment it started:
    /// the slots must still be the same on every node, and each run once. Also for a job
    /// ordered `after` another, whose slots do not go through the queue: each node asks for
    /// them itself (the job's first node at once, the others later, for those not yet taken).
    @Test(arguments: [("* * * * * *", false), ("@every 2s", false), ("* * * * * *", true)])
    func threeNodesRunEachSlotOnce(_ schedule: String, orderedAfterAnother: Bool) throws {
        let cluster = try Cluster()
        let truth = cluster.scratch.path("truth")
        let after = orderedAfterAnother ? #", "after": ["idle"]}, {"name": "idle", "shell": "true"}"# : "}"
        let config = try cluster.scratch.write("jobs.json", """
            {"jobs": [{"name": "tick", "shell": "echo \\"$SCHEDD_SCHEDULED_AT $SCHEDD_NODE\\" >> \(truth)", "schedule": "\(schedule)"\(after)]}
            """)
        for name in ["a", "b", "c"] {
            _ = try cluster.start(name, config: config)
            // Started apart, as nodes are: an interval counted from each node's start would
            // give each its own slots.
            usleep(300_000)
        }
        for node in cluster.nodes.values { #expect(node.waitUntilStarted(), "\(node.stderr())") }
        // Some seconds of slots, then every node leaves (the barrier: nothing runs after it).
        #expect(eventually(timeout: 90) { ((try? String(contentsOfFile: truth, encoding: .utf8)) ?? "").split(separator: "\n").count >= 8 })
        // A node that does not stop within the wait is killed (9): its log says where it stood.
        for node in cluster.nodes.values {
            let status = node.terminate()
            #expect(status == 0, "\(node.stderr().suffix(4000))")
        }
        let lines = try String(contentsOfFile: truth, encoding: .utf8).split(separator: "\n").map(String.init)
        let slots = lines.map { String($0.split(separator: " ")[0]) }
        #expect(Set(slots).count == slots.count, "a slot ran twice: \(lines)")
        #expect(!slots.contains(""), "a scheduled run without its slot: \(lines)")
        // One grid of slots for the whole cluster: each a whole multiple of the period.
        let period = schedule == "@every 2s" ? 2_000.0 : 1_000.0
        let times = slots.compactMap(Timestamp.parse).map { $0.timeIntervalSince1970 * 1000 }
        #expect(times.count == slots.count && times.allSatisfy { $0.rounded().truncatingRemainder(dividingBy: period) == 0 }, "\(lines)")
        // The database agrees with the file: one row per slot, by the node the file names.
        let rows = try cluster.sql("""
            SELECT to_char(scheduled_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || ' ' || node FROM runs
            WHERE job = 'tick' AND status = 'succeeded' ORDER BY scheduled_at
            """).split(separator: "\n").map(String.init)
        #expect(rows == lines.sorted(), "database: \(rows)\nfile: \(lines)")
        // Nothing left running or lost. A slot may be left queued (the last node stopped before
        // it claimed it: the next node to start claims or gives it up), or skipped while the
        // slot before was still running (a loaded machine).
        let unfinished = "status NOT IN ('succeeded', 'queued') AND NOT (status = 'skipped' AND error LIKE '%(concurrency: forbid)')"
        #expect(try cluster.sql("SELECT count(*) FROM runs WHERE \(unfinished)") == "0",
                "\((try? cluster.sql("SELECT id, node, status, scheduled_at, error FROM runs WHERE status <> 'succeeded'")) ?? "")")
        // Each node left; or, its last write cut by its deadline on a loaded machine (the
        // full suite ran this test at a fifth of its speed once, and one node stayed), it
        // said so, and the others will find it dead when its lease ends.
        let states = try cluster.sql("SELECT string_agg(name || ' ' || state || ' ' || epoch, ',' ORDER BY name) FROM nodes")
        for row in states.split(separator: ",") {
            let fields = row.split(separator: " ").map(String.init)
            guard fields.count == 3, let node = cluster.nodes[fields[0]] else {
                Issue.record("an unknown node: \(row)")
                continue
            }
            let log = node.stderr()
            #expect(fields[1] == "left" || log.contains("cannot record that this node leaves the cluster"), "\(states)\n\(fields[0]): \(log.suffix(3000))")
        }
        #expect(states.split(separator: ",").count == 3, "\(states)")
    }

    @Test func aKilledNodesRunIsLostWithinItsLeaseAndTheOthersGoOn() throws {
        let cluster = try Cluster()
        let config = try cluster.scratch.write("jobs.json", #"{"jobs": [{"name": "long", "shell": "sleep 60", "on_failure": "notify"},"#
            + #"{"name": "again", "shell": "sleep 60", "retries": 1, "retry_backoff": "0s"},"#
            + #"{"name": "flaky", "shell": "exit 1", "retries": 1, "retry_backoff": "12s"}, {"name": "notify", "shell": "true"}]}"#)
        let (a, _) = try cluster.startAll("a", "b", config: config)
        // A failed attempt whose retry waits on a when a dies. (Not `run --wait`, which would
        // follow the retry.)
        #expect(try cluster.ctl("a", ["run", "flaky"]).status == 0)
        #expect(eventually { (try? cluster.sql("SELECT node || ' ' || (retry_at IS NOT NULL) FROM runs WHERE job = 'flaky'")) == "a true" })
        #expect(try cluster.ctl("a", ["run", "long"]).status == 0)
        #expect(try cluster.ctl("a", ["run", "again"]).status == 0)
        #expect(eventually { (try? cluster.sql("SELECT string_agg(node, ',') FROM runs WHERE status = 'running'")) == "a,a" })
        kill(a.pid, SIGKILL)
        _ = a.waitForExit()
        // Lease 3 s, renewed every second: b declares a dead a few seconds later.
        let killed = Date()
        #expect(eventually(timeout: 15) { (try? cluster.sql("SELECT status FROM runs WHERE job = 'long'")) == "lost" })
        #expect(Date().timeIntervalSince(killed) < 10)
        #expect(try cluster.sql("SELECT error FROM runs WHERE job = 'long'") == "lost: node a stopped renewing its lease while the run was active")
        // A job with retries left is retried on the node that found it lost; one without is not.
        #expect(eventually { (try? cluster.sql("""
            SELECT string_agg(attempt || ' ' || trigger || ' ' || status || ' ' || node, ',' ORDER BY id) FROM runs WHERE job = 'again'
            """)) == "1 manual lost a,2 retry running b" })
        // A lost run with no retries left is a failure: its on_failure runs, told which run.
        #expect(eventually { (try? cluster.sql("""
            SELECT string_agg(n.trigger || ' ' || n.node || ' ' || (n.triggered_by_run = l.id), ',') FROM runs n, runs l
            WHERE n.job = 'notify' AND l.job = 'long'
            """)) == "dependency b true" })
        // a's waiting retry is b's now, and runs there when it is due.
        #expect(eventually(timeout: 30) { (try? cluster.sql("""
            SELECT string_agg(attempt || ' ' || trigger || ' ' || status || ' ' || node, ',' ORDER BY id) FROM runs WHERE job = 'flaky'
            """)) == "1 manual failed a,2 retry failed b" })
        #expect(try cluster.sql("SELECT count(*) FROM runs WHERE job = 'flaky' AND retry_at IS NOT NULL") == "0")
        #expect(try cluster.sql("SELECT state FROM nodes WHERE name = 'a'") == "dead")
        // The history reads the same on the surviving node, and `nodes` shows a dead.
        #expect(try cluster.ctl("b", ["history", "long"]).stdout.contains("lost"))
        let nodes = try cluster.ctl("b", ["nodes"]).stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true) }
        #expect(nodes.map { $0.prefix(2).joined(separator: " ") } == ["NAME STATE", "a dead", "b up"], "\(nodes)")
        // a comes back under a new epoch; its old run stays lost.
        let before = try cluster.sql("SELECT max(epoch) FROM nodes")
        let again = try cluster.start("a", config: config)
        #expect(again.waitUntilStarted(), "\(again.stderr())")
        #expect(try cluster.sql("SELECT (epoch > \(before))::text FROM nodes WHERE name = 'a'") == "true")
        #expect(try cluster.sql("SELECT string_agg(status, ',') FROM runs WHERE job = 'long'") == "lost")
    }

    /// A node frozen past its lease (SIGSTOP) is declared dead; when it wakes it stops what it
    /// was running at once, its late end is refused, and it rejoins under a new epoch.
    @Test func aFrozenNodeStopsItsRunsWhenItWakesAndItsLateWritesAreRefused() throws {
        let cluster = try Cluster()
        let pidFile = cluster.scratch.path("pid")
        let config = try cluster.scratch.write("jobs.json", #"{"jobs": [{"name": "long", "shell": "echo $$ > \#(pidFile); exec sleep 60"}]}"#)
        let (a, _) = try cluster.startAll("a", "b", config: config)
        #expect(try cluster.ctl("a", ["run", "long"]).status == 0)
        #expect(eventually { FileManager.default.fileExists(atPath: pidFile) && (try? cluster.sql("SELECT node FROM runs WHERE status = 'running'")) == "a" })
        let jobPID = try #require(Int32(String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        let frozenEpoch = try cluster.sql("SELECT epoch FROM nodes WHERE name = 'a'")
        kill(a.pid, SIGSTOP)
        defer { kill(a.pid, SIGCONT) }
        #expect(eventually(timeout: 15) { (try? cluster.sql("SELECT status FROM runs")) == "lost" })
        #expect(kill(jobPID, 0) == 0, "the frozen node's process still runs while it is frozen")
        kill(a.pid, SIGCONT)
        let woke = Date()
        #expect(eventually(timeout: 5) { kill(jobPID, 0) != 0 }, "the woken node stops its stale process")
        #expect(Date().timeIntervalSince(woke) < 2)
        #expect(eventually { a.stderr().contains("this node's lease lapsed") })
        #expect(eventually { (try? cluster.sql("SELECT (epoch > \(frozenEpoch))::text || ' ' || state FROM nodes WHERE name = 'a'")) == "true up" })
        // Its late end did not overwrite the cluster's verdict.
        #expect(try cluster.sql("SELECT status FROM runs") == "lost")
    }

    /// `concurrency: replace` holds across nodes: each new slot stops the run of the one before,
    /// wherever it runs.
    @Test func aReplacingJobsNewSlotStopsTheRunBeforeItOnAnyNode() throws {
        let cluster = try Cluster()
        let config = try cluster.scratch.write("jobs.json", #"""
            {"jobs": [{"name": "rep", "shell": "exec sleep 60", "schedule": "@every 2s", "concurrency": "replace"}]}
            """#)
        let (a, b) = try cluster.startAll("a", "b", config: config)
        #expect(eventually(timeout: 30) {
            ((try? cluster.sql("SELECT count(*) FROM runs WHERE status = 'cancelled'")).flatMap { Int($0) } ?? 0) >= 2
        }, "\((try? cluster.sql("SELECT id, node, status, scheduled_at, error FROM runs ORDER BY id")) ?? "")")
        #expect(a.terminate() == 0 && b.terminate() == 0)
        // Every run was replaced by the next slot's but the last ones, stopped at shutdown.
        #expect(try cluster.sql("""
            SELECT count(*) FROM runs WHERE status = 'cancelled' AND error NOT LIKE 'replaced by a newer run (concurrency: replace)%'
              AND error NOT LIKE '%at shutdown%'
            """) == "0", "\((try? cluster.sql("SELECT id, node, status, error FROM runs ORDER BY id")) ?? "")")
        #expect(try cluster.sql("SELECT count(*) FROM runs WHERE status IN ('running', 'lost', 'failed')") == "0")
    }

    /// `schedctl cancel` on one node reaches a run on another, by run and by job, through the
    /// database; a run that is not running anywhere is still not found.
    @Test func aCancelOnOneNodeStopsARunOnAnother() throws {
        let cluster = try Cluster()
        let config = try cluster.scratch.write("jobs.json", #"{"jobs": [{"name": "long", "shell": "exec sleep 60", "concurrency": "allow"}]}"#)
        _ = try cluster.startAll("a", "b", config: config)
        #expect(try cluster.ctl("a", ["run", "long"]).status == 0)
        #expect(try cluster.ctl("a", ["run", "long"]).status == 0)
        #expect(eventually { (try? cluster.sql("SELECT count(*) FROM runs WHERE status = 'running' AND node = 'a'")) == "2" })
        let ids = try cluster.sql("SELECT string_agg(id::text, ',' ORDER BY id) FROM runs").split(separator: ",").map(String.init)
        let byID = try cluster.ctl("b", ["cancel", ids[0]])
        #expect(byID.status == 0, "\(byID.stderr)")
        #expect(eventually(timeout: 10) {
            (try? cluster.sql("SELECT status || ' ' || coalesce(error, '') FROM runs WHERE id = \(ids[0])"))?.hasPrefix("cancelled cancelled by schedctl (asked on node b)") == true
        }, "\((try? cluster.sql("SELECT status, error FROM runs")) ?? "")")
        #expect(try cluster.sql("SELECT status FROM runs WHERE id = \(ids[1])") == "running")
        let byJob = try cluster.ctl("b", ["cancel", "long"])
        #expect(byJob.status == 0 && byJob.stdout.contains(ids[1]), "\(byJob.stdout) \(byJob.stderr)")
        #expect(eventually(timeout: 10) { (try? cluster.sql("SELECT string_agg(status, ',') FROM runs")) == "cancelled,cancelled" })
        #expect(try cluster.sql("SELECT count(*) FROM runs WHERE cancelled_by IS NULL") == "0")
        let gone = try cluster.ctl("b", ["cancel", ids[0]])
        #expect(gone.status != 0 && gone.stderr.contains("not active"), "\(gone.stderr)")
    }

    /// A retry waiting on one node is cancelled from another, by the failed run's id or by
    /// the job's name: recorded skipped there, and not started when it comes due where it
    /// waited.
    @Test func aCancelOnOneNodeDropsARetryWaitingOnAnother() throws {
        let cluster = try Cluster()
        let config = try cluster.scratch.write("jobs.json", #"""
            {"jobs": [{"name": "flaky", "shell": "exit 1", "node": "a", "retries": 1, "retry_backoff": "3s"},
                      {"name": "slow", "shell": "exit 1", "node": "a", "retries": 1, "retry_backoff": "2h"}]}
            """#)
        _ = try cluster.startAll("a", "b", config: config)
        // `show` on b names the retry waiting on a, and a node's own retry without asking.
        #expect(try cluster.ctl("a", ["run", "slow"]).status == 0)
        #expect(eventually { (try? cluster.sql("SELECT count(*) FROM runs WHERE job = 'slow' AND retry_at IS NOT NULL")) == "1" })
        let slow = try cluster.sql("SELECT id FROM runs WHERE job = 'slow'")
        for node in ["a", "b"] {
            let shown = try cluster.ctl(node, ["show", "slow"]).stdout
            #expect(shown.contains("retry: attempt 2 in ") && shown.contains(" (of run \(slow)) on node a\n"), "\(node): \(shown)")
        }
        #expect(try cluster.ctl("b", ["cancel", "slow"]).status == 0)
        for (round, target) in ["id", "flaky"].enumerated() {
            #expect(try cluster.ctl("a", ["run", "flaky"]).status == 0)
            #expect(eventually { (try? cluster.sql("SELECT count(*) FROM runs WHERE job = 'flaky' AND retry_at IS NOT NULL")) == "1" })
            let failed = try cluster.sql("SELECT id FROM runs WHERE job = 'flaky' AND retry_at IS NOT NULL")
            let cancel = try cluster.ctl("b", ["cancel", target == "id" ? failed : target])
            #expect(cancel.status == 0 && cancel.stdout.contains("its retry that had not started will not run"), "\(cancel.stdout)\(cancel.stderr)")
            // a's timer comes due and its start is refused: `show` there has no retry left.
            #expect(eventually(timeout: 15) { (try? cluster.ctl("a", ["show", "flaky"]))?.stdout.contains("retry:") == false })
            #expect(try cluster.sql("""
                SELECT string_agg(trigger || ' ' || status || ' ' || node || ' ' || coalesce(retry_of = \(failed), false), ',' ORDER BY id)
                FROM runs WHERE id >= \(failed) AND job = 'flaky'
                """) == "manual failed a false,retry skipped b true", "round \(round)")
            #expect(try cluster.sql("SELECT error FROM runs WHERE retry_of = \(failed)").hasPrefix("skipped: cancelled before it started by uid"))
        }
        #expect(try cluster.sql("SELECT count(*) FROM runs WHERE retry_at IS NOT NULL") == "0")
    }

    /// A node shut down cleanly, and not started again, leaves its waiting retry to the others:
    /// one of them takes it over and runs it when it comes due. (Before, it waited for that
    /// node's return, for ever for a node taken out of the cluster.)
    @Test func aRetryWaitingOnANodeThatShutDownRunsOnAnother() throws {
        let cluster = try Cluster()
        // It fails on a and succeeds on b, so that its first attempt leaves a retry on a.
        let config = try cluster.scratch.write("jobs.json", #"""
            {"jobs": [{"name": "flaky", "shell": "[ \"$SCHEDD_NODE\" = b ]", "retries": 1, "retry_backoff": "8s"}]}
            """#)
        let (a, _) = try cluster.startAll("a", "b", config: config)
        #expect(try cluster.ctl("a", ["run", "flaky"]).status == 0)
        #expect(eventually { (try? cluster.sql("SELECT count(*) FROM runs WHERE job = 'flaky' AND retry_at IS NOT NULL")) == "1" })
        #expect(a.terminate() == 0)
        #expect(try cluster.sql("SELECT state FROM nodes WHERE name = 'a'") == "left")
        #expect(eventually(timeout: 20) {
            (try? cluster.sql("SELECT string_agg(trigger || ' ' || status || ' ' || node, ',' ORDER BY id) FROM runs WHERE job = 'flaky'"))
                == "manual failed a,retry succeeded b"
        }, "\((try? cluster.sql("SELECT string_agg(trigger || ' ' || status || ' ' || node, ',' ORDER BY id) FROM runs")) ?? "")")
        #expect(try cluster.sql("SELECT count(*) FROM runs WHERE retry_at IS NOT NULL") == "0")
    }

    /// A run that fails on its own while its node shuts down, with no retry, leaves its final
    /// result to that node's next start; a node that does not come back leaves it to the
    /// others: one of them counts the failure and runs `on_failure` once; `run --wait` on the
    /// stopping node says so. (Before, it was never applied.)
    @Test func theFinalResultOfARunEndingAsItsNodeLeavesIsAppliedByAnother() throws {
        let cluster = try Cluster()
        let told = cluster.scratch.path("told")
        let config = try cluster.scratch.write("jobs.json", #"""
            {"jobs": [{"name": "flaky", "node": "a", "shell": "sleep 1; exit 3", "on_failure": "alert"},
                      {"name": "alert", "shell": "echo $SCHEDD_TRIGGERED_BY_JOB $SCHEDD_TRIGGERED_BY_STATUS $SCHEDD_NODE >> \#(told)"}]}
            """#)
        let a = try cluster.start("a", config: config, extra: ["--shutdown-grace", "30s"])
        let b = try cluster.start("b", config: config)
        #expect(a.waitUntilStarted(), "\(a.stderr())")
        #expect(b.waitUntilStarted(), "\(b.stderr())")
        let waiting = try LiveOutputTests.Follower(socket: a.socketPath, scratch: cluster.scratch, ["run", "flaky", "--wait"])
        #expect(eventually { (try? cluster.sql("SELECT status FROM runs WHERE job = 'flaky'")) == "running" })
        #expect(a.terminate() == 0)
        #expect(try cluster.sql("SELECT state FROM nodes WHERE name = 'a'") == "left")
        #expect(waiting.finish() == 3)
        #expect(waiting.errors.hasSuffix("; what follows it (its failure counted, on_failure) comes by another node once this one has stopped\n"),
                "\(waiting.errors)")
        #expect(eventually(timeout: 20) { (try? String(contentsOfFile: told, encoding: .utf8)) == "flaky failed b\n" },
                "\((try? cluster.sql("SELECT string_agg(job || ' ' || status || ' ' || node || ' ' || coalesce(policy_pending, '-'), ', ' ORDER BY id) FROM runs")) ?? "")")
        #expect(eventually { (try? cluster.sql("SELECT count(*) FROM runs WHERE policy_pending IS NOT NULL")) == "0" })
        #expect(try cluster.sql("SELECT consecutive_failures FROM job_state WHERE job = 'flaky'") == "1")
        #expect(try cluster.sql("SELECT count(*) FROM runs WHERE job = 'alert'") == "1")
    }

    /// `schedctl run --wait` on one node follows its run through the restart of the node that
    /// runs it: the run, pinned to a, is stopped past a's grace by a's shutdown and retried
    /// once a is back, and the follower on b prints both attempts' output and exits with the
    /// retry's status. (Before, it ended at the stop, with the run `cancelled`; and a retry that
    /// a started before b read the run's end was not told, so that it was not followed.)
    @Test func runWaitFollowsARunThroughItsNodesRestart() throws {
        let cluster = try Cluster()
        let config = try cluster.scratch.write("jobs.json", #"""
            {"jobs": [{"name": "long", "node": "a", "retries": 1, "retry_backoff": "1h",
                       "shell": "if [ \"$SCHEDD_ATTEMPT\" = 2 ]; then echo second on $SCHEDD_NODE; else echo first on $SCHEDD_NODE; sleep 100; fi"}]}
            """#)
        let (a, b) = try cluster.startAll("a", "b", config: config)
        let waiting = try LiveOutputTests.Follower(socket: b.socketPath, scratch: cluster.scratch, ["run", "long", "--wait"])
        #expect(eventually(timeout: 20) { waiting.text == "first on a\n" }, "\(waiting.errors)")
        #expect(a.terminate() == 0)
        #expect(try cluster.sql("SELECT status || ' ' || (retry_at IS NOT NULL) FROM runs WHERE job = 'long'") == "cancelled true")
        let again = try cluster.start("a", config: config)
        #expect(again.waitUntilStarted(), "\(again.stderr())")
        #expect(waiting.finish(timeout: 40) == 0, "\(waiting.errors)")
        #expect(waiting.text == "first on a\nsecond on a\n")
        #expect(waiting.errors.contains("long run 1: cancelled: schedd stopped it at shutdown (grace period over); retry (attempt 2)"), "\(waiting.errors)")
        #expect(try cluster.sql("SELECT string_agg(trigger || ' ' || status || ' ' || node, ',' ORDER BY id) FROM runs WHERE job = 'long'")
                    == "manual cancelled a,retry succeeded a")
    }

    /// Nodes whose job files differ undo each other's jobs at every reload or restart (the
    /// file is the whole set of the file's jobs): a node that applies a file other than the
    /// one another node applied last names that node and each job it changes back, in the log
    /// and to `schedctl reload`, dry run or not. The same file at another path, or the node's
    /// own file applied again, is no such change.
    @Test func aNodeWhoseJobFileDiffersFromTheOneAppliedLastSaysSo() throws {
        let cluster = try Cluster()
        let one = #"{"jobs": [{"name": "x", "shell": "true"}, {"name": "y", "shell": "true"}]}"#
        let other = #"{"jobs": [{"name": "x", "shell": "exit 0"}, {"name": "z", "shell": "true"}]}"#
        let a = try cluster.start("a", config: try cluster.scratch.write("a.json", one))
        #expect(a.waitUntilStarted(), "\(a.stderr())")
        // b applies the same file at its start (or finds it applied): a brought it.
        let again = try cluster.start("b", config: try cluster.scratch.write("b.json", one))
        #expect(again.waitUntilStarted(), "\(again.stderr())")
        _ = try cluster.scratch.write("b.json", other)
        let dry = try cluster.ctl("b", ["reload", "--dry-run"])
        let undone = "while the nodes' job files differ, each one's reload or restart undoes the other's (give every node the same file)"
        for line in ["schedctl: warning: z: node a's job file (applied last) does not have it: this node's creates it; \(undone)",
                     "schedctl: warning: x: node a's job file (applied last) defines it otherwise: this node's changes it; \(undone)",
                     "schedctl: warning: y: node a's job file (applied last) has it: this node's removes it; \(undone)"] {
            #expect(dry.stderr.contains(line), "\(dry.stderr)")
        }
        #expect(!again.stderr().contains("differs from the one another node applied"), "\(again.stderr())")
        let reload = try cluster.ctl("b", ["reload"])
        #expect(reload.status == 0 && reload.stderr.contains("schedctl: warning: y: node a's job file"), "\(reload.stderr)")
        #expect(again.stderr().contains("this node's job file differs from the one another node applied last schedd.created=z schedd.node=a schedd.removed=y schedd.updated=x"),
                "\(again.stderr())")
        #expect(try cluster.sql("SELECT string_agg(name, ',' ORDER BY name) FROM jobs") == "x,z")
        // b's own file again: no warning; a's differs from it, named by a.
        let own = try cluster.ctl("b", ["reload"])
        #expect(own.status == 0 && !own.stderr.contains("warning"), "\(own.stderr)")
        let back = try cluster.ctl("a", ["reload", "--dry-run"])
        #expect(back.stderr.contains("schedctl: warning: y: node b's job file (applied last) does not have it: this node's creates it"), "\(back.stderr)")
        // A node whose file is invalid joins and runs the cluster's jobs, saying its file was
        // refused; one whose file others may write does not join.
        let broken = try cluster.start("c", config: try cluster.scratch.write("c.json", #"{"jobs": [{"name": "x", "shel": "true"}]}"#))
        #expect(broken.waitUntilStarted(), "\(broken.stderr())")
        let status = try cluster.ctl("c", ["status"])
        #expect(status.status == 1 && status.stdout.contains("the job file was refused"), "\(status.stdout)")
        #expect(try cluster.sql("SELECT string_agg(name, ',' ORDER BY name) FROM jobs") == "x,z")
        let open = try cluster.scratch.write("d.json", one)
        #expect(chmod(open, 0o666) == 0)
        let refused = try Binaries.run(Binaries.schedd, ["--postgres", cluster.url, "--node", "d", "--config", open,
                                                         "--socket", cluster.scratch.path("d.sock")], timeout: 30)
        #expect(refused.status == 2 && refused.stderr.contains("may be written by"), "\(refused.stderr)")
        #expect(try cluster.sql("SELECT count(*) FROM nodes WHERE name = 'd'") == "0")
    }

    /// A job's failures in a row are the cluster's count, whichever node ran each: the
    /// threshold pauses the job on every node, and the count matches the failed runs.
    @Test func failuresInARowAreCountedAcrossNodes() throws {
        let cluster = try Cluster()
        let config = try cluster.scratch.write("jobs.json", #"""
            {"jobs": [{"name": "flaky", "shell": "exit 1", "schedule": "@every 1s", "max_consecutive_failures": 4}]}
            """#)
        _ = try cluster.startAll("a", "b", config: config)
        #expect(eventually(timeout: 30) { (try? cluster.sql("SELECT paused::text || ' ' || coalesce(pause_reason, '') FROM job_state")) == "true failure_threshold" },
                "\((try? cluster.sql("SELECT node, status FROM runs")) ?? "")")
        // Once nothing of the job is queued or running any more, the count is every failed run's.
        #expect(eventually(timeout: 10) { (try? cluster.sql("SELECT count(*) FROM runs WHERE status IN ('queued', 'running')")) == "0" })
        let failed = try cluster.sql("SELECT count(*) FROM runs WHERE status = 'failed'")
        #expect(try cluster.sql("SELECT consecutive_failures FROM job_state") == failed,
                "\((try? cluster.sql("SELECT string_agg(node || ' ' || status, ', ' ORDER BY id) FROM runs")) ?? "")")
        #expect((Int(failed) ?? 0) >= 4)
    }

    /// A change made on one node reaches the others: a job applied on a, paused on b.
    @Test func jobsAndPausesChangedOnOneNodeReachTheOthers() throws {
        let cluster = try Cluster()
        let truth = cluster.scratch.path("truth")
        let config = try cluster.scratch.write("jobs.json", #"{"jobs": []}"#)
        // A long lease: the nodes poll for changes every 20 s, so what reaches the other node
        // sooner was told by the database's notification.
        let a = try cluster.start("a", config: config, lease: "60s", extra: ["--workers", "4"])
        let b = try cluster.start("b", config: config, lease: "60s", extra: ["--workers", "4"])
        #expect(a.waitUntilStarted() && b.waitUntilStarted())
        for node in [a, b] {
            #expect(eventually(timeout: 20) { node.stderr().contains("listening for the other nodes' notifications") }, "\(node.stderr())")
        }
        let jobs = #"{"jobs": [{"name": "tick", "shell": "echo \"tick $SCHEDD_SCHEDULED_AT $SCHEDD_NODE\" >> \#(truth)", "schedule": "* * * * * *"},"#
            + #"{"name": "tock", "shell": "echo \"tock $SCHEDD_SCHEDULED_AT $SCHEDD_NODE\" >> \#(truth)", "schedule": "* * * * * *"},"#
            + #"{"name": "onb", "node": "b", "shell": "echo \"onb $SCHEDD_SCHEDULED_AT $SCHEDD_NODE\" >> \#(truth)", "schedule": "* * * * * *"}]}"#
        let apply = try Binaries.run(Binaries.schedctl, ["--socket", a.socketPath, "apply", "-"], input: jobs)
        #expect(apply.status == 0, "\(apply.stderr)")
        func lines() -> [String] { ((try? String(contentsOfFile: truth, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }
        // b learnt of the jobs from the database at once: it runs the one pinned to it, and
        // both nodes run the others. (Which node claims a slot is a race; on a loaded machine
        // one node took every tick for 20 s, once: the wait is the longer.)
        #expect(eventually(timeout: 10) { lines().contains { $0.hasPrefix("onb ") && $0.hasSuffix(" b") } }, "\(b.stderr())")
        #expect(eventually(timeout: 45) { Set(lines().filter { $0.hasPrefix("tick") }.map { $0.split(separator: " ")[2] }) == ["a", "b"] })
        #expect(try cluster.ctl("b", ["pause", "tick"]).status == 0)
        #expect(eventually(timeout: 10) { a.stderr().contains("a job was paused or resumed on another node") }, "\(a.stderr())")
        let pausedAt = try cluster.sql("SELECT extract(epoch FROM now())::float8")
        // The barrier: tock goes on firing on both nodes for three more slots.
        let tocksBefore = lines().filter { $0.hasPrefix("tock") }.count
        #expect(eventually(timeout: 20) { lines().filter { $0.hasPrefix("tock") }.count >= tocksBefore + 3 })
        let late = try cluster.sql("SELECT count(*) FROM runs WHERE job = 'tick' AND scheduled_at > to_timestamp(\(pausedAt))")
        #expect(late == "0", "tick ran after both nodes had it paused")
        #expect(Set(lines().map { $0.split(separator: " ")[1] + " " + $0.split(separator: " ")[0] }).count == lines().count, "a slot ran twice")
    }

    /// Schedules that name no zone are read in one zone across the cluster, whatever each
    /// host's zone: read in each node's own, `0 0 * * *` would fire once per zone. A node
    /// started with `--timezone` sets it for every node, at once.
    @Test func theClusterReadsSchedulesThatNameNoZoneInOneZone() throws {
        let cluster = try Cluster()
        let config = try cluster.scratch.write("jobs.json", #"{"jobs": [{"name": "nightly", "shell": "true", "schedule": "0 0 * * *"}]}"#)
        var newYork = ProcessInfo.processInfo.environment
        newYork["TZ"] = "America/New_York"
        // A long lease: the nodes poll for changes every 20 s, so a change seen sooner was told
        // by the database's notification.
        let a = try cluster.start("a", config: config, lease: "60s", extra: ["--timezone", "Asia/Kathmandu"])
        #expect(a.waitUntilStarted(), "\(a.stderr())")
        let b = try cluster.start("b", config: config, lease: "60s", environment: newYork)
        #expect(b.waitUntilStarted(), "\(b.stderr())")
        #expect(b.stderr().contains("schedules that name no zone are read in the cluster's zone, not this host's"), "\(b.stderr())")
        func zone(_ node: String) throws -> String? {
            let result = try cluster.ctl(node, ["status", "--json"])
            return try APICoding.decoder().decode(StatusResponse.self, from: Data(result.stdout.utf8)).timeZone
        }
        #expect(try zone("a") == "Asia/Kathmandu")
        #expect(try zone("b") == "Asia/Kathmandu")
        func nextRun(in zone: String) throws -> String {
            try cluster.sql("SELECT to_char(next_run_at AT TIME ZONE '\(zone)', 'HH24:MI') FROM job_state WHERE job = 'nightly'")
        }
        #expect(try nextRun(in: "Asia/Kathmandu") == "00:00")
        for node in [a, b] {
            #expect(eventually(timeout: 20) { node.stderr().contains("listening for the other nodes' notifications") }, "\(node.stderr())")
        }
        let c = try cluster.start("c", config: config, lease: "60s", extra: ["--timezone", "UTC"])
        #expect(c.waitUntilStarted(), "\(c.stderr())")
        #expect(c.stderr().contains("this node set the cluster's time zone"), "\(c.stderr())")
        for node in ["a", "b"] {
            #expect(eventually(timeout: 10) { (try? zone(node)) == "UTC" }, "\(cluster.nodes[node]!.stderr())")
        }
        #expect(eventually(timeout: 10) { (try? nextRun(in: "UTC")) == "00:00" })
        #expect(try cluster.sql("SELECT value FROM meta WHERE key = 'time_zone'") == "UTC")
    }

    /// `schedctl pause` of a service on a node that does not run it stops it on the node that
    /// does (it went on running there, paused), and `resume` there starts it again.
    @Test func aServicePausedOnAnotherNodeStopsWhereItRuns() throws {
        let cluster = try Cluster()
        let config = try cluster.scratch.write("jobs.json", #"""
            {"jobs": [{"name": "svc", "command": ["sleep", "1000"], "restart": "always", "ready_after": "0s", "kill_grace": "5s"}]}
            """#)
        _ = try cluster.startAll("a", "b", config: config)
        let running = "SELECT coalesce(string_agg(node, ','), '') FROM runs WHERE job = 'svc' AND status = 'running'"
        #expect(eventually { (try? cluster.sql(running)).map { $0 == "a" || $0 == "b" } ?? false })
        let holder = try cluster.sql(running)
        let other = holder == "a" ? "b" : "a"
        let paused = try cluster.ctl(other, ["pause", "svc"])
        #expect(paused.status == 0, "\(paused.stderr)")
        #expect(eventually(timeout: 20) { (try? cluster.sql(running)) == "" }, "\((try? cluster.sql("SELECT id, node, status, error FROM runs WHERE job = 'svc'")) ?? "")")
        #expect(try cluster.sql("SELECT status || ' ' || error FROM runs WHERE job = 'svc' ORDER BY id DESC LIMIT 1") == "cancelled paused on another node")
        let resumed = try cluster.ctl(other, ["resume", "svc"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(eventually(timeout: 20) { (try? cluster.sql(running)).map { $0 == "a" || $0 == "b" } ?? false },
                "\((try? cluster.sql("SELECT id, node, status, error FROM runs WHERE job = 'svc'")) ?? "")")
    }

    /// A service runs on one node at a time, and moves when that node dies; a pinned job runs
    /// on its node only.
    @Test func aServiceRunsOnOneNodeAndMovesWhenItDiesAPinnedJobStays() throws {
        let cluster = try Cluster()
        let truth = cluster.scratch.path("truth")
        let config = try cluster.scratch.write("jobs.json", #"""
            {"jobs": [{"name": "svc", "command": ["sleep", "1000"], "restart": "always", "ready_after": "0s"},
                      {"name": "only-b", "shell": "echo \"$SCHEDD_NODE\" >> \#(truth)", "schedule": "* * * * * *", "node": "b"},
                      {"name": "needs-svc", "shell": "true", "schedule": "* * * * * *", "requires": ["svc"]}]}
            """#)
        let (a, b) = try cluster.startAll("a", "b", config: config)
        #expect(eventually { (try? cluster.sql("SELECT count(*) FROM runs WHERE job = 'svc' AND status = 'running'")) == "1" })
        let holder = try cluster.sql("SELECT node FROM runs WHERE job = 'svc' AND status = 'running'")
        #expect(holder == "a" || holder == "b")
        // A manual run of the pinned job asked on the other node is queued for its node, which
        // runs it; `--wait` follows it there through its row.
        let queued = try cluster.ctl("a", ["run", "only-b"])
        #expect(queued.status == 0 && queued.stdout.contains("queued only-b: run"), "\(queued.stdout)\(queued.stderr)")
        #expect(eventually { (try? cluster.sql("SELECT node || ' ' || status FROM runs WHERE job = 'only-b' AND trigger = 'manual'")) == "b succeeded" },
                "\((try? cluster.sql("SELECT node, status, error FROM runs WHERE job = 'only-b' AND trigger = 'manual'")) ?? "")")
        let waited = try cluster.ctl("a", ["run", "--wait", "only-b"])
        #expect(waited.status == 0, "\(waited.stdout)\(waited.stderr)")
        #expect(try cluster.sql("SELECT string_agg(node || ' ' || status, ',') FROM runs WHERE job = 'only-b' AND trigger = 'manual'") == "b succeeded,b succeeded")
        #expect(eventually { FileManager.default.fileExists(atPath: truth) })
        // The other node shows where it runs.
        let (dying, survivor) = holder == "a" ? (a, "b") : (b, "a")
        #expect(eventually { (try? cluster.ctl(survivor, ["list"]).stdout.contains("elsewhere (runs on node \(holder))")) == true },
                "\((try? cluster.ctl(survivor, ["list"]).stdout) ?? "")")
        // What requires it runs where it runs; the other node records nothing for its slots.
        let since = try cluster.sql("SELECT extract(epoch FROM now())::float8")
        #expect(eventually {
            (try? cluster.sql("SELECT count(*) FROM runs WHERE job = 'needs-svc' AND status = 'succeeded' AND scheduled_at > to_timestamp(\(since))"))
                .flatMap { Int($0) } ?? 0 >= 3
        })
        #expect(try cluster.sql("SELECT coalesce(string_agg(DISTINCT node || ' ' || status, ','), '') FROM runs WHERE job = 'needs-svc' AND scheduled_at > to_timestamp(\(since))")
                == "\(holder) succeeded")
        // A manual run of it asked on the other node is queued for the node that runs it (it
        // waited out its requires_wait there and was skipped).
        let manual = try cluster.ctl(survivor, ["run", "--wait", "needs-svc"])
        #expect(manual.status == 0, "\(manual.stdout)\(manual.stderr)")
        #expect(try cluster.sql("SELECT string_agg(node || ' ' || status, ',') FROM runs WHERE job = 'needs-svc' AND trigger = 'manual'") == "\(holder) succeeded")
        // Each run's node in history, and the node of the service's pid in list.
        let history = try cluster.ctl(survivor, ["history", "needs-svc", "--limit", "1"]).stdout.split(separator: "\n")
        #expect(history.first?.hasPrefix("ID ") == true && history.first?.contains(" NODE ") == true, "\(history)")
        #expect(history.dropFirst().first?.split(separator: " ").dropFirst(2).first.map(String.init) == holder, "\(history)")
        #expect(try cluster.ctl(survivor, ["list"]).stdout.contains("running (on \(holder), pid "))
        let shown = try cluster.ctl(survivor, ["show", "svc"]).stdout
        #expect(shown.contains("\nprocess: on node \(holder), pid ") && !shown.contains("restart in") && !shown.contains("\nstarts: "), "\(shown)")
        // The holder dies: the other node takes the service over once its heartbeat no longer
        // sees the holder up (lease 3 s).
        kill(dying.pid, SIGKILL)
        _ = dying.waitForExit()
        #expect(eventually(timeout: 30) {
            (try? cluster.sql("SELECT node FROM runs WHERE job = 'svc' AND status = 'running'")) == survivor
        }, "\((try? cluster.sql("SELECT id, node, status, trigger FROM runs WHERE job = 'svc'")) ?? "")")
        #expect(try cluster.sql("SELECT count(*) FROM runs WHERE job = 'svc' AND status = 'running'") == "1")
        // Run only on b; while b is down, its slots are missed (recorded by a), not moved.
        let pinnedNodes = try cluster.sql("SELECT coalesce(string_agg(DISTINCT node, ','), '') FROM runs WHERE job = 'only-b' AND status <> 'skipped'")
        #expect(pinnedNodes == "b", "only-b ran on: \(pinnedNodes)")
        // Its skips are misses while b was down, or (a loaded machine) a slot that came while
        // b's run of the slot before was still going.
        let otherSkips = "job = 'only-b' AND status = 'skipped' AND error NOT LIKE 'missed: node b%' AND error NOT LIKE '%(concurrency: forbid)'"
        #expect(try cluster.sql("SELECT count(*) FROM runs WHERE \(otherSkips)") == "0",
                "\((try? cluster.sql("SELECT id, node, scheduled_at, error FROM runs WHERE \(otherSkips)")) ?? "")")
        let nodes = ((try? String(contentsOfFile: truth, encoding: .utf8)) ?? "").split(separator: "\n")
        #expect(nodes.allSatisfy { $0 == "b" }, "\(nodes)")
    }

    /// A service that failed by its restart limit and is resumed on the node that does not
    /// hold it starts again on the node that does.
    @Test func aFailedServiceResumedOnTheOtherNodeStartsAgainWhereItIsHeld() throws {
        let cluster = try Cluster()
        let gate = cluster.scratch.path("gate")
        let config = try cluster.scratch.write("jobs.json", #"""
            {"jobs": [{"name": "flaky", "shell": "test -e \#(gate) || exit 1; exec sleep 1000", "restart": "always",
                       "restart_delay": "100ms", "restart_limit": {"burst": 2, "interval": "1m"}}]}
            """#)
        let (a, b) = try cluster.startAll("a", "b", config: config)
        #expect(eventually(timeout: 20) { (try? cluster.sql("SELECT pause_reason FROM job_state WHERE job = 'flaky'")) == "restart_limit" },
                "\(a.stderr())\(b.stderr())")
        let holder = try cluster.sql("SELECT node FROM service_holders WHERE job = 'flaky'")
        #expect(holder == "a" || holder == "b")
        let other = holder == "a" ? "b" : "a"
        #expect(FileManager.default.createFile(atPath: gate, contents: nil))
        let resumed = try cluster.ctl(other, ["resume", "flaky"])
        #expect(resumed.status == 0, "\(resumed.stdout)\(resumed.stderr)")
        #expect(eventually { (try? cluster.sql("SELECT string_agg(node, ',') FROM runs WHERE job = 'flaky' AND status = 'running'")) == holder },
                "\((try? cluster.sql("SELECT id, node, status, trigger, error FROM runs WHERE job = 'flaky' ORDER BY id")) ?? "")")
        #expect(eventually { (try? cluster.ctl(other, ["list"]).stdout.contains("elsewhere (runs on node \(holder))")) == true })
    }

    /// `schedctl stop`, `start` and `restart` of a service asked on the node that does not run
    /// it are done by the node that does, which answers with the service's state there; what
    /// it refuses is refused on the asking node with its reason.
    @Test func aServiceIsStoppedStartedAndRestartedFromTheOtherNode() throws {
        let cluster = try Cluster()
        let config = try cluster.scratch.write("jobs.json", #"""
            {"jobs": [{"name": "web", "shell": "exec sleep 1000", "restart": "always", "kill_grace": "2s"}]}
            """#)
        let (a, b) = try cluster.startAll("a", "b", config: config)
        func running() -> String? { try? cluster.sql("SELECT string_agg(id || ' ' || node, ',') FROM runs WHERE job = 'web' AND status = 'running'") }
        #expect(eventually(timeout: 20) { running()?.isEmpty == false }, "\(a.stderr())\(b.stderr())")
        let holder = try cluster.sql("SELECT node FROM service_holders WHERE job = 'web'")
        let other = holder == "a" ? "b" : "a"
        let first = try #require(running())
        let stopped = try cluster.ctl(other, ["stop", "web"])
        #expect(stopped.status == 0 && stopped.stdout.hasPrefix("web: stopping (on node \(holder), by "), "\(stopped.stdout)\(stopped.stderr)")
        #expect(eventually { running()?.isEmpty ?? true }, "\(running() ?? "")")
        let error = try cluster.sql("SELECT error FROM runs WHERE job = 'web' ORDER BY id DESC LIMIT 1")
        #expect(error.contains("stopped by schedctl"), "\(error)")
        #expect(try cluster.sql("SELECT count(*) FROM service_commands") == "0")
        let started = try cluster.ctl(other, ["start", "web"])
        #expect(started.status == 0 && started.stdout.contains("(on node \(holder)"), "\(started.stdout)\(started.stderr)")
        #expect(eventually { (running() ?? "").hasSuffix(" \(holder)") && running() != first }, "\(running() ?? "")")
        let second = running()
        let restarted = try cluster.ctl(other, ["restart", "web"])
        #expect(restarted.status == 0 && restarted.stdout.contains("(on node \(holder)"), "\(restarted.stdout)\(restarted.stderr)")
        #expect(eventually { (running() ?? "").hasSuffix(" \(holder)") && running() != second }, "\(running() ?? "")")
        // Refused there, refused here, with the holder's reason.
        #expect(try cluster.ctl(other, ["pause", "web"]).status == 0)
        let refused = try cluster.ctl(other, ["start", "web"])
        #expect(refused.status == 1 && refused.stderr.contains("on node \(holder): \"web\" is paused: `schedctl resume web` starts it again"),
                "\(refused.stderr)")
        #expect(try cluster.sql("SELECT count(*) FROM service_commands") == "0")
    }

    /// A job pinned to a node that is down is not moved: its slots are recorded as missed,
    /// once each, by one of the nodes that are up.
    @Test func aPinnedJobsSlotsAreMissedWhileItsNodeIsDown() throws {
        let cluster = try Cluster()
        let config = try cluster.scratch.write("jobs.json", #"""
            {"jobs": [{"name": "only-b", "shell": "true", "schedule": "* * * * * *", "node": "b"}]}
            """#)
        let a = try cluster.start("a", config: config)
        let b = try cluster.start("b", config: config)
        let c = try cluster.start("c", config: config)
        #expect(a.waitUntilStarted() && b.waitUntilStarted() && c.waitUntilStarted())
        #expect(eventually { ((try? cluster.sql("SELECT count(*) FROM runs WHERE job = 'only-b' AND node = 'b'")).flatMap { Int($0) } ?? 0) > 0 })
        #expect(b.terminate() == 0)
        #expect(eventually(timeout: 30) {
            ((try? cluster.sql("SELECT count(*) FROM runs WHERE job = 'only-b' AND status = 'skipped' AND error LIKE 'missed: node b%'"))
                .flatMap { Int($0) } ?? 0) >= 3
        }, "\((try? cluster.sql("SELECT id, node, status, error FROM runs WHERE job = 'only-b' ORDER BY id DESC LIMIT 5")) ?? "")")
        // A manual run of it is refused while its node is down, instead of waiting for it.
        let refused = try cluster.ctl("a", ["run", "only-b"])
        #expect(refused.status != 0 && refused.stderr.contains("runs only on node b (its \"node\"), which is not up"), "\(refused.stdout)\(refused.stderr)")
        #expect(try cluster.sql("SELECT count(*) FROM runs WHERE job = 'only-b' AND trigger = 'manual'") == "0")
        // Never run elsewhere, each slot once, its misses recorded by a node that is up. Which
        // one is the first up by name in that node's view: a, as a rule, but a lease renewal
        // slowed on a loaded machine can shift a view for a moment, and b records skips of its
        // own as it stops. (A full CI run once found a skipped row of this job from a node other
        // than a; the rows are printed now.) Each slot is still recorded once: the query below.
        #expect(try cluster.sql("SELECT count(*) FROM runs WHERE job = 'only-b' AND node <> 'b' AND status <> 'skipped'") == "0")
        #expect(try cluster.sql("SELECT count(*) FROM runs WHERE job = 'only-b' AND error LIKE 'missed:%' AND node NOT IN ('a', 'c')") == "0",
                "\((try? cluster.sql("SELECT id, node, scheduled_at, error FROM runs WHERE job = 'only-b' AND status = 'skipped'")) ?? "")")
        #expect(try cluster.sql("""
            SELECT count(*) FROM (SELECT scheduled_at FROM runs WHERE job = 'only-b' GROUP BY scheduled_at HAVING count(*) > 1) d
            """) == "0")
    }

    /// `run --wait` and `logs --follow` on one node stream the output of a run on another as
    /// it is printed (that node writes it to the database while it is followed): the job
    /// prints, then waits for a gate the test opens only once both have shown that line.
    @Test func runWaitAndLogsFollowStreamARunOnAnotherNode() throws {
        let cluster = try Cluster()
        let gate = cluster.scratch.path("gate")
        let config = try cluster.scratch.write("jobs.json", #"""
            {"jobs": [{"name": "talk", "node": "b", "timeout": "60s",
                       "shell": "echo first; while [ ! -e \#(gate) ]; do sleep 0.05; done; echo second >&2; echo third; exit 3"}]}
            """#)
        let (a, _) = try cluster.startAll("a", "b", config: config)
        let wait = try LiveOutputTests.Follower(socket: a.socketPath, scratch: cluster.scratch, ["run", "talk", "--wait"])
        #expect(eventually(timeout: 20) { wait.text == "first\n" }, "\(wait.text)\(wait.errors)")
        let id = try cluster.sql("SELECT id FROM runs WHERE job = 'talk'")
        let follow = try LiveOutputTests.Follower(socket: a.socketPath, scratch: cluster.scratch, ["logs", id, "--follow"])
        #expect(eventually(timeout: 20) { follow.text == "first\n" }, "\(follow.text)\(follow.errors)")
        #expect(wait.process.isRunning && follow.process.isRunning)
        #expect(try cluster.sql("SELECT status FROM runs WHERE id = \(id)") == "running")
        _ = FileManager.default.createFile(atPath: gate, contents: nil)
        // The job's exit status, its stdout and its stderr, as if it had run on node a.
        #expect(wait.finish() == 3)
        #expect(wait.text == "first\nthird\n")
        #expect(wait.errors.contains("second\n"), "\(wait.errors)")
        #expect(follow.finish() == 0)
        // Both streams, in the order the run's node read its two pipes (not always the order
        // the job wrote them in).
        #expect(follow.text.hasPrefix("first\n") && follow.text.split(separator: "\n").sorted() == ["first", "second", "third"],
                "\(follow.text)\(follow.errors)")
    }

    /// `concurrency: forbid` (the default) across the nodes for a run by hand: `schedctl run`
    /// on one node while the job runs on another is recorded `skipped`, naming that run and
    /// node, as on one node; `--force` starts it.
    @Test func aRunByHandOfAForbidJobRunningOnAnotherNodeIsSkipped() throws {
        let cluster = try Cluster()
        let gate = cluster.scratch.path("gate")
        let config = try cluster.scratch.write("jobs.json", #"""
            {"jobs": [{"name": "long", "timeout": "60s", "shell": "while [ ! -e \#(gate) ]; do sleep 0.05; done"}]}
            """#)
        _ = try cluster.startAll("a", "b", config: config)
        defer { _ = FileManager.default.createFile(atPath: gate, contents: nil) }
        #expect(try cluster.ctl("b", ["run", "long"]).status == 0)
        let first = try cluster.sql("SELECT id FROM runs WHERE job = 'long' AND status = 'running' AND node = 'b'")
        let refused = try cluster.ctl("a", ["run", "long"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("long: skipped: run \(first) is still active on node b (concurrency: forbid)"), "\(refused.stderr)")
        #expect(refused.stderr.contains("--force starts it anyway"), "\(refused.stderr)")
        #expect(try cluster.sql("SELECT count(*) FROM runs WHERE job = 'long' AND status = 'skipped' AND node = 'a'") == "1")
        #expect(try cluster.ctl("a", ["run", "--force", "long"]).status == 0)
        #expect(try cluster.sql("SELECT string_agg(node, ',' ORDER BY id) FROM runs WHERE job = 'long' AND status = 'running'") == "b,a")
    }

    /// `concurrency: replace` across the nodes for a run by hand: `schedctl run` on one node
    /// while the job runs on another stops that run (`cancelled`, "replaced by a newer run"),
    /// as on one node, and the new one runs.
    @Test func aRunByHandOfAReplaceJobStopsItsRunOnAnotherNode() throws {
        let cluster = try Cluster()
        let gate = cluster.scratch.path("gate")
        let config = try cluster.scratch.write("jobs.json", #"""
            {"jobs": [{"name": "long", "timeout": "60s", "concurrency": "replace", "shell": "while [ ! -e \#(gate) ]; do sleep 0.05; done"}]}
            """#)
        _ = try cluster.startAll("a", "b", config: config)
        defer { _ = FileManager.default.createFile(atPath: gate, contents: nil) }
        #expect(try cluster.ctl("b", ["run", "long"]).status == 0)
        let first = try cluster.sql("SELECT id FROM runs WHERE job = 'long' AND status = 'running' AND node = 'b'")
        #expect(try cluster.ctl("a", ["run", "long"]).status == 0)
        #expect(eventually(timeout: 20) { (try? cluster.sql("SELECT status FROM runs WHERE id = \(first)")) == "cancelled" })
        #expect(try cluster.sql("SELECT error FROM runs WHERE id = \(first)").contains("replaced by a newer run (concurrency: replace)"))
        #expect(try cluster.sql("SELECT string_agg(node, ',') FROM runs WHERE job = 'long' AND status = 'running'") == "a")
    }

    /// `GET /v1/events?run=ID` on one node, for a failed attempt on another that will be
    /// retried: `retry_scheduled` (with the node that holds the retry) comes before
    /// `run_finished`, as on the run's own node. The mark is written with the run's end, so the
    /// follower finds it with the end.
    @Test func aFollowerOnAnotherNodeHearsThatARetryComes() throws {
        let cluster = try Cluster()
        let gate = cluster.scratch.path("gate")
        let config = try cluster.scratch.write("jobs.json", #"""
            {"jobs": [{"name": "flaky", "node": "b", "retries": 1, "retry_backoff": "2h",
                       "shell": "while [ ! -e \#(gate) ]; do sleep 0.05; done; exit 1"}]}
            """#)
        let (a, _) = try cluster.startAll("a", "b", config: config)
        #expect(try cluster.ctl("a", ["run", "flaky"]).status == 0)
        #expect(eventually(timeout: 20) { (try? cluster.sql("SELECT status FROM runs WHERE job = 'flaky'")) == "running" })
        let id = try cluster.sql("SELECT id FROM runs WHERE job = 'flaky'")
        // The gate opens once the stream has begun: a run that ended before the request is
        // answered with its end alone.
        let reply = try #require(LocalHTTP.stream(socket: a.socketPath, "/v1/events?run=\(id)", once: "HTTP/1.1 200") {
            _ = FileManager.default.createFile(atPath: gate, contents: nil)
        })
        let retry = try #require(reply.range(of: "event: retry_scheduled"), "\(reply)")
        let finished = try #require(reply.range(of: "event: run_finished"), "\(reply)")
        #expect(retry.lowerBound < finished.lowerBound)
        #expect(reply.contains(#""retry_of":\#(id)"#) && reply.contains(#""node":"b""#) && reply.contains(#""attempt":2"#), "\(reply)")
    }

    /// A slot that waits in the queue past the late tolerance (`--late-tolerance`) while no
    /// worker is free is a missed fire: given up by the sweep, or, claimed in between sweeps,
    /// recorded as missed instead of run late.
    @Test func queuedSlotsPastTheLateToleranceAreMissedNotRunLate() throws {
        let cluster = try Cluster()
        let config = try cluster.scratch.write("jobs.json", #"""
            {"jobs": [{"name": "hog", "shell": "sleep 60"},
                      {"name": "tick", "shell": "true", "schedule": "@every 1s"}]}
            """#)
        // One worker, held by hog; a long lease, so that the sweep comes every 10 s.
        let a = try cluster.start("a", config: config, lease: "30s", extra: ["--workers", "1", "--late-tolerance", "2s"])
        #expect(a.waitUntilStarted(), "\(a.stderr())")
        #expect(try cluster.ctl("a", ["run", "hog"]).status == 0)
        func count(_ condition: String) -> Int { (try? cluster.sql("SELECT count(*) FROM runs WHERE job = 'tick' AND \(condition)")).flatMap { Int($0) } ?? 0 }
        #expect(eventually(timeout: 30) { count("status = 'skipped' AND error = 'missed: queued for more than 2s while no node had a free worker (catch_up: none)'") > 0 },
                "\((try? cluster.sql("SELECT id, status, scheduled_at, error FROM runs WHERE job = 'tick' ORDER BY id")) ?? "")")
        // A slot queued for 3 s or more, which the next sweep has not yet given up: freeing the
        // worker now lets the node claim it, and it must not run.
        #expect(eventually(timeout: 30) { count("status = 'queued' AND scheduled_at < now() - interval '3 seconds'") > 0 })
        #expect(try cluster.ctl("a", ["cancel", "hog"]).status == 0)
        #expect(eventually(timeout: 20) { count("status = 'skipped' AND error LIKE 'missed: claimed more than 2s after its time%'") > 0 },
                "\((try? cluster.sql("SELECT id, status, scheduled_at, started_at, error FROM runs WHERE job = 'tick' ORDER BY id")) ?? "")")
        #expect(eventually(timeout: 20) { count("status = 'succeeded'") >= 2 })
        // Nothing ran late: a run started more than the tolerance (and a claim's round trip)
        // after its slot would have been a missed fire run anyway.
        #expect(count("status NOT IN ('skipped', 'queued') AND started_at > scheduled_at + interval '3 seconds'") == 0,
                "\((try? cluster.sql("SELECT id, status, scheduled_at, started_at FROM runs WHERE job = 'tick' AND status <> 'skipped' ORDER BY id")) ?? "")")
    }

    /// `cancel NAME` drops the job's slots still queued in the database (no node claimed them:
    /// the only worker is held), recorded skipped; its schedule goes on.
    @Test func cancellingAJobSkipsItsQueuedSlots() throws {
        let cluster = try Cluster()
        let config = try cluster.scratch.write("jobs.json", #"""
            {"jobs": [{"name": "hog", "shell": "sleep 60"},
                      {"name": "tick", "shell": "true", "schedule": "@every 1s", "concurrency": "allow"}]}
            """#)
        let a = try cluster.start("a", config: config, extra: ["--workers", "1"])
        #expect(a.waitUntilStarted(), "\(a.stderr())")
        #expect(try cluster.ctl("a", ["run", "hog"]).status == 0)
        func queued() -> [String] {
            ((try? cluster.sql("SELECT string_agg(id::text, ',' ORDER BY id) FROM runs WHERE job = 'tick' AND status = 'queued'")) ?? "")
                .split(separator: ",").map(String.init)
        }
        #expect(eventually(timeout: 20) { queued().count >= 2 })
        let before = queued()
        let cancelled = try cluster.ctl("a", ["cancel", "tick"])
        #expect(cancelled.status == 0 && cancelled.stdout.contains("runs waiting to start will not run"), "\(cancelled.stdout)\(cancelled.stderr)")
        let rows = try cluster.sql("""
            SELECT string_agg(status || ' ' || (error LIKE 'skipped: cancelled before it started by uid % (on node a)')::text, ',')
            FROM runs WHERE id IN (\(before.joined(separator: ",")))
            """)
        #expect(rows == Array(repeating: "skipped true", count: before.count).joined(separator: ","), "\(rows)")
        #expect(try cluster.ctl("a", ["cancel", "hog"]).status == 0)
    }

    @Test func nodesIsAClusterVerb() throws {
        let d = try Daemon(jobs: #"{"jobs": []}"#)
        let single = try d.ctl(["nodes"])
        #expect(single.status == 1 && single.stderr.contains("not part of a cluster"), "\(single.stderr)")
        let cluster = try Cluster()
        let config = try cluster.scratch.write("jobs.json", #"{"jobs": []}"#)
        let a = try cluster.start("a", config: config, extra: ["--workers", "3"])
        #expect(a.waitUntilStarted())
        let json = try cluster.ctl("a", ["--json", "nodes"])
        let nodes = try APICoding.decoder().decode([NodeInfo].self, from: Data(json.stdout.utf8))
        #expect(nodes.count == 1 && nodes[0].name == "a" && nodes[0].state == "up" && nodes[0].workers == 3 && nodes[0].epoch == 1)
        // A second node with the same name is refused while the first holds it.
        let twin = try DaemonProcess(["--postgres", cluster.url, "--node", "a", "--lease", "3s"], log: cluster.scratch.path("twin.log"))
        #expect(twin.waitForExit(timeout: 20) == 1)
        #expect(twin.stderr().contains("the node name \"a\" is held by a live node"), "\(twin.stderr())")
        // A bad URL is refused before anything starts.
        let bad = try Binaries.run(Binaries.schedd, ["--postgres", "postgresql://nobody@/x?host=/tmp&sslmode=require", "--socket", cluster.scratch.path("s.sock")])
        #expect(bad.status == 2 && bad.stderr.contains("sslmode=require over a Unix socket"), "\(bad.stderr)")
        // A database that cannot be used is named with the reason at once (it waited a minute,
        // then said only that the database did not answer).
        let missing = cluster.url.replacingOccurrences(of: "/\(cluster.database)?", with: "/no_such_db?")
        let noDatabase = try Binaries.run(Binaries.schedd, ["--postgres", missing, "--socket", cluster.scratch.path("s.sock")], timeout: 30)
        #expect(noDatabase.status == 1 && noDatabase.stderr.contains("cannot connect to the PostgreSQL database")
                && noDatabase.stderr.contains("database \"no_such_db\" does not exist"), "\(noDatabase.stderr)")
        let noServer = try Binaries.run(Binaries.schedd, ["--postgres", "postgresql://nobody@/x?host=\(cluster.scratch.url.path)",
                                                          "--socket", cluster.scratch.path("s.sock")], timeout: 30)
        #expect(noServer.status == 1 && noServer.stderr.contains("(socket \(cluster.scratch.url.path)/.s.PGSQL.5432): No such file or directory"),
                "\(noServer.stderr)")
    }
}
