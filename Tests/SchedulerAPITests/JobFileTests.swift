import Foundation
import Testing
@testable import SchedulerAPI

/// A context that does not depend on who runs the tests.
let rootContext = ValidationContext(runningAsRoot: true)
let userContext = ValidationContext(runningAsRoot: false)

func decode(_ text: String, _ context: ValidationContext = rootContext) throws(APIError) -> JobFile {
    try JobFile(data: Array(text.utf8), context: context)
}

/// The issue texts of a file that must fail.
func issues(_ text: String, _ context: ValidationContext = rootContext) -> [String] {
    do {
        _ = try decode(text, context)
        Issue.record("expected the file to be refused")
        return []
    } catch {
        #expect(error.code == .invalidJobFile)
        return error.issues.map(\.description)
    }
}

func job(_ fields: String) -> String { #"{"jobs": [{"name": "j", "shell": "true", \#(fields)}]}"# }

@Suite struct JobFileTests {
    /// A user's job (`OWNER/NAME`) runs as its owner and names only the owner's jobs.
    @Test func aUsersJobRunsAsItsOwner() throws {
        let file = try decode(#"""
            {"jobs": [{"name": "daemon/backup", "shell": "true", "on_failure": "daemon/notify", "group": "daemon"},
                      {"name": "daemon/notify", "shell": "true", "user": "daemon"}]}
            """#)
        #expect(file.jobs.map(\.user) == ["daemon", "daemon"])
        #expect(file.jobs[0].group == "daemon")
        #expect(issues(#"{"jobs": [{"name": "daemon/x", "shell": "true", "user": "root"}]}"#)
            == [#"jobs[0] "daemon/x": user: the job belongs to daemon and runs as daemon, not as "root""#])
        #expect(issues(#"{"defaults": {"user": "root"}, "jobs": [{"name": "daemon/x", "shell": "true"}]}"#)
            == [#"jobs[0] "daemon/x": user: the job belongs to daemon and runs as daemon, not as "root""#])
        #expect(issues(#"{"jobs": [{"name": "daemon/x", "shell": "true", "group": "root"}]}"#)
            == [#"jobs[0] "daemon/x": group: the job belongs to daemon, who is not a member of the group "root""#])
        #expect(issues(#"{"jobs": [{"name": "daemon/x", "shell": "true", "on_failure": "n"}, {"name": "n", "shell": "true"}]}"#)
            == [#"jobs[0] "daemon/x": on_failure: "n" is not a job of daemon: a user's job may name only the same user's jobs"#])
        #expect(issues(#"{"jobs": [{"name": "nosuchuser9/x", "shell": "true"}]}"#)
            == [#"jobs[0] "nosuchuser9/x": name: no user named "nosuchuser9" on this system to own the job"#])
        #expect(issues(#"{"jobs": [{"name": "daemon/x", "shell": "true"}]}"#, userContext)
            == [#"jobs[0] "daemon/x": name: a job of the user daemon runs as daemon, which needs schedd to run as root"#])
        for bad in ["/x", "daemon/", "daemon/x/y", "-d/x", "daemon/.x"] {
            #expect(issues(#"{"jobs": [{"name": "\#(bad)", "shell": "true"}]}"#).first?.contains("is not a valid name") == true, "\(bad)")
        }
        // Admins' jobs may still name a user's.
        _ = try decode(#"{"jobs": [{"name": "a", "shell": "true", "on_failure": "daemon/n"}, {"name": "daemon/n", "shell": "true"}]}"#)
    }

    @Test func decodesEveryField() throws {
        let file = try decode("""
            {"jobs": [{
              "name": "backup-db", "description": "nightly", "command": ["/usr/local/bin/backup", "--full"],
              "schedule": "0 3 * * *", "timezone": "Europe/Berlin", "enabled": false, "timeout": "2h",
              "kill_grace": "15s", "retries": 2, "retry_backoff": "30s", "retry_backoff_max": "10m",
              "max_consecutive_failures": 5, "concurrency": "replace", "catch_up": "all", "jitter": "5m",
              "on_failure": "page", "on_success": "page", "env": {"A": "1", "B": "two"}, "working_dir": "/srv",
              "user": "root", "group": "root", "output_limit": "1MiB", "node": "db-1.example"
            }, {"name": "page", "handler": "pager", "params": {"channel": "#ops"}},
               {"name": "svc", "command": ["app"], "restart": "on-failure", "restart_delay": "2s",
                "restart_limit": {"burst": 5, "interval": "60s"}}]}
            """)
        let j = file.jobs[0]
        #expect(j.name == "backup-db")
        #expect(j.description == "nightly")
        #expect(j.node == "db-1.example")
        #expect(j.action == .command(["/usr/local/bin/backup", "--full"]))
        #expect(j.schedule == "0 3 * * *")
        #expect(j.timezone == "Europe/Berlin")
        #expect(j.enabled == false && !j.isEnabled)
        #expect(j.timeout == .seconds(7200))
        #expect(j.killGrace == .seconds(15))
        #expect(j.retries == 2)
        #expect(j.retryBackoff == .seconds(30))
        #expect(j.retryBackoffMax == .seconds(600))
        #expect(j.maxConsecutiveFailures == 5)
        #expect(j.concurrency == .replace)
        #expect(j.catchUp == .all)
        #expect(j.jitter == .seconds(300))
        #expect(j.onFailure == "page" && j.onSuccess == "page")
        #expect(j.env == ["A": "1", "B": "two"])
        #expect(j.workingDir == "/srv")
        #expect(j.user == "root" && j.group == "root")
        #expect(j.outputLimit == 1 << 20)
        #expect(file.jobs[1].action == .handler("pager", params: .object([("channel", .string("#ops"))])))
        let svc = file.jobs[2]
        #expect(svc.isService && svc.restart == .onFailure)
        #expect(svc.restartDelay == .seconds(2))
        #expect(svc.restartLimit == RestartLimit(burst: 5, interval: .seconds(60)))
    }

    @Test func defaultsFillUnsetFieldsAndMergeEnv() throws {
        let file = try decode("""
            {"defaults": {"timeout": "10m", "retries": 1, "env": {"A": "d", "B": "d"}, "on_failure": "notify",
                          "restart_limit": {"burst": 3, "interval": "1m"}},
             "jobs": [
               {"name": "a", "shell": "x", "retries": 3, "env": {"B": "job"}},
               {"name": "notify", "shell": "y"},
               {"name": "svc", "shell": "z", "restart": "always"}]}
            """)
        let a = file.jobs[0]
        #expect(a.timeout == .seconds(600))
        #expect(a.retries == 3)
        #expect(a.env == ["A": "d", "B": "job"])
        #expect(a.onFailure == "notify")
        #expect(a.restartLimit == nil)  // restart_* defaults only reach services
        // A default on_failure is not applied to the job it names.
        #expect(file.jobs[1].onFailure == nil)
        #expect(file.jobs[2].restartLimit == RestartLimit(burst: 3, interval: .seconds(60)))
        // A default timeout would kill a service every `timeout`: it does not reach services.
        #expect(file.jobs[2].timeout == nil)
        let own = try decode(#"{"defaults": {"timeout": "10m"}, "jobs": [{"name": "s", "shell": "z", "restart": "always", "timeout": "1h"}]}"#)
        #expect(own.jobs[0].timeout == .seconds(3600))
        #expect(issues(job(#""output_limit": -1"#)) == [#"jobs[0] "j": output_limit: must not be negative (0 keeps no output)"#])
    }

    /// docs/job-file.md has a section for every field the decoder knows, and no other.
    @Test func theReferenceListsEveryField() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/job-file.md")
        let text = try String(contentsOf: url, encoding: .utf8)
        var documented: [String] = []
        for line in text.split(separator: "\n") where line.hasPrefix("### `") {
            documented.append(String(line.dropFirst(5).prefix { $0 != "`" }))
        }
        let known = JobFileDecoder.jobKeys + ["jobs", "defaults"]
        #expect(Set(documented).subtracting(known).sorted() == [], "documented but unknown to the decoder")
        #expect(Set(known).subtracting(documented).sorted() == [], "known to the decoder but not documented")
        #expect(documented.count == Set(documented).count, "a field documented twice")
        // Every field defaults may set is listed as such.
        let defaultsSection = try #require(text.range(of: "### `defaults`")).upperBound
        let defaultsText = text[defaultsSection...].prefix(while: { $0 != "#" })
        for key in JobFileDecoder.defaultKeys {
            #expect(defaultsText.contains("`\(key)`"), "defaults may set \(key)")
        }
    }

    @Test func theExampleFileValidates() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../jobs.example.json")
        let file = try JobFile(data: try Data(contentsOf: url), context: userContext)
        #expect(file.jobs.count >= 5)
        #expect(file.jobs.contains { $0.isService })
        #expect(file.jobs.contains { $0.onFailure != nil })
        #expect(file.jobs.contains { $0.schedule == "@every 30s" })
        #expect(file.jobs.contains { $0.requires?.isEmpty == false })
    }

    @Test func canonicalJSONRoundTrips() throws {
        let file = try decode(job(#""schedule": "*/5 * * * *", "timeout": "90s", "env": {"Z": "1", "A": "2"}, "output_limit": 4096"#))
        let text = file.json.serialized()
        #expect(text == #"{"jobs":[{"name":"j","shell":"true","schedule":"*/5 * * * *","timeout":"1m30s","env":{"A":"2","Z":"1"},"output_limit":"4KiB"}]}"#)
        let again = try decode(text)
        #expect(again == file)
        #expect(again.json.serialized() == text)
    }

    @Test func unknownFieldsSuggestNearMisses() {
        #expect(issues(job(#""shedule": "@daily""#)) == [#"jobs[0] "j": shedule: unknown field (did you mean "schedule"?)"#])
        #expect(issues(job(#""colour": 1"#)) == [#"jobs[0] "j": colour: unknown field"#])
        #expect(issues(#"{"jobs": [], "job": []}"#) == [#"job: unknown field (did you mean "jobs"?)"#])
        #expect(issues(#"{"jobs": [], "defaults": {"timeot": "1m"}}"#) == [#"defaults.timeot: unknown field (did you mean "timeout"?)"#])
        #expect(issues(#"{"jobs": [], "defaults": {"schedule": "@daily"}}"#) == [#"defaults.schedule: not allowed in defaults (set it on each job)"#])
    }

    /// A trigger that `defaults` gave a job, and that is wrong, is reported at the job with
    /// where it came from: the job itself does not name it.
    @Test func aBadTriggerFromDefaultsSaysSo() {
        #expect(issues(#"{"defaults": {"on_failure": "pager"}, "jobs": [{"name": "a", "shell": "true"}]}"#)
                    == [#"jobs[0] "a": on_failure: no job named "pager" (set by defaults.on_failure)"#])
        // Its own is reported as it is.
        #expect(issues(#"{"defaults": {"on_failure": "a"}, "jobs": [{"name": "a", "shell": "true"}, {"name": "b", "shell": "true", "on_failure": "pager"}]}"#)
                    == [#"jobs[1] "b": on_failure: no job named "pager""#])
        #expect(issues(#"{"defaults": {"on_failure": "m", "on_success": "n"}, "jobs": [{"name": "m", "shell": "true"}, {"name": "n", "shell": "true"}]}"#)
                    == [#"jobs[0] "m": on_success: trigger cycle: m -> n -> m: each run would trigger the next without end (retries repeat a failed run; "#
                        + #"a chain of jobs must end) (set by defaults: m -> n by defaults.on_success, n -> m by defaults.on_failure)"#])
        #expect(issues(#"{"defaults": {"on_success": "n"}, "jobs": [{"name": "m", "shell": "true"}, {"name": "n", "shell": "true", "on_failure": "m"}]}"#)
                    == [#"jobs[0] "m": on_success: trigger cycle: m -> n -> m: each run would trigger the next without end (retries repeat a failed run; "#
                        + #"a chain of jobs must end) (set by defaults: m -> n by defaults.on_success)"#])
    }

    @Test func durationErrorsSayWhatToWrite() {
        #expect(issues(job(#""timeout": "5 minutes""#)) == [#"jobs[0] "j": timeout: "5 minutes" is not a duration (try "5m")"#])
        #expect(issues(job(#""timeout": 90"#)) == [#"jobs[0] "j": timeout: expected a duration string like "90s", "5m" or "1h30m", got a number (try "90s")"#])
        #expect(issues(job(#""timeout": "0s""#)) == [#"jobs[0] "j": timeout: must be longer than 0s"#])
        #expect(issues(job(#""jitter": "soon""#)).first?.contains("is not a duration (use e.g.") == true)
        #expect(issues(job(#""retry_backoff": "1m", "retry_backoff_max": "10s""#)) == [#"jobs[0] "j": retry_backoff_max: is shorter than retry_backoff (1m)"#])
    }

    /// A jitter as long as the time between fires would push a fire past the next slot (which
    /// the engine then logs as missed): refused, from the job or from defaults; a shorter one,
    /// one on a job without a schedule, and a stored definition are taken.
    @Test func aJitterMustBeShorterThanTheTimeBetweenFires() throws {
        #expect(issues(job(#""schedule": "@every 2s", "jitter": "10s""#))
            == [#"jobs[0] "j": jitter: 10s is not shorter than the 2s between the schedule's fires: a fire delayed that long would pass the next one; use a jitter under 2s"#])
        #expect(issues(job(#""schedule": "*/5 * * * *", "jitter": "5m""#)).first?.contains("5m is not shorter than the 5m between") == true)
        // The least gap of a cron schedule, not its first: 23:00 then midnight.
        #expect(issues(job(#""schedule": "0 0,23 * * *", "jitter": "2h""#)).first?.contains("2h is not shorter than the 1h between") == true)
        // Month ends: the 31st, then the 1st a day later.
        #expect(issues(job(#""schedule": "0 0 1,31 * *", "jitter": "1d""#)).first?.contains("between the schedule's fires") == true)
        #expect(issues(#"{"defaults": {"jitter": "5m"}, "jobs": [{"name": "j", "shell": "true", "schedule": "* * * * *"}]}"#)
            == [#"jobs[0] "j": jitter: 5m is not shorter than the 1m between the schedule's fires: a fire delayed that long would pass the next one; use a jitter under 1m (set by defaults.jitter)"#])
        _ = try decode(#"{"defaults": {"jitter": "5m"}, "jobs": [{"name": "j", "shell": "true", "schedule": "* * * * *", "jitter": "30s"}]}"#)
        _ = try decode(job(#""schedule": "0 0 1,31 * *", "jitter": "23h""#))
        _ = try decode(job(#""schedule": "@every 2s", "jitter": "1999ms""#))
        _ = try decode(job(#""schedule": "@reboot", "jitter": "1h""#))
        _ = try decode(job(#""jitter": "1h""#))
        let stored = try JobSpec(json: JSONParser.parse(#"{"name": "j", "shell": "true", "schedule": "@every 2s", "jitter": "10s"}"#), context: .stored)
        #expect(stored.jitter == .seconds(10))
    }

    /// A job given on its own, or jobs in a bare array, is told how to make it a job file,
    /// in one issue rather than one per field.
    @Test func oneJobOrABareArrayIsToldToUseAJobsArray() {
        #expect(issues(#"{"name": "spam", "shell": "true", "output_limit": "4KiB"}"#)
            == [#"this is one job "spam", not a job file: put it in a "jobs" array, {"jobs": [{"name": …}]}"#])
        #expect(issues(#"{"shell": "true"}"#) == [#"this is one job, not a job file: put it in a "jobs" array, {"jobs": [{"name": …}]}"#])
        #expect(issues(#"[{"name": "a", "shell": "true"}]"#)
            == [#"the file must be a JSON object with a "jobs" array, got an array: put the jobs in one, {"jobs": [ … ]}"#])
        #expect(issues(#"[1]"#) == [#"the file must be a JSON object with a "jobs" array, got an array"#])
        // Anything else at the top is as it was: each unknown field, and the missing array.
        #expect(issues(#"{"job": []}"#).count == 2)
    }

    /// `requires_wait` on a job that requires nothing would wait for nothing: refused; from
    /// defaults (which reach every job) it is not, nor in a stored definition.
    @Test func requiresWaitWithoutRequiresIsRefused() throws {
        #expect(issues(job(#""requires_wait": "30s""#))
            == [#"jobs[0] "j": requires_wait: has no effect without "requires": it is how long a run waits for the services it requires to be ready"#])
        _ = try decode(#"{"defaults": {"requires_wait": "30s"}, "jobs": [{"name": "j", "shell": "true"}]}"#)
        _ = try decode(#"{"jobs": [{"name": "db", "shell": "x", "restart": "always"}, {"name": "j", "shell": "true", "requires": ["db"], "requires_wait": "30s"}]}"#)
        let stored = try JobSpec(json: JSONParser.parse(#"{"name": "j", "shell": "true", "requires_wait": "30s"}"#), context: .stored)
        #expect(stored.requiresWait == .seconds(30))
    }

    @Test func typeAndRangeErrors() {
        #expect(issues(job(#""retries": "2""#)) == [#"jobs[0] "j": retries: expected a whole number, got a string"#])
        #expect(issues(job(#""retries": 1.5"#)) == [#"jobs[0] "j": retries: 1.5 is not a whole number"#])
        #expect(issues(job(#""retries": 1e30"#)) == [#"jobs[0] "j": retries: 1e30 is not a whole number"#])
        #expect(issues(job(#""retries": 101"#)) == [#"jobs[0] "j": retries: 101 is out of range 0-100"#])
        #expect(issues(job(#""enabled": "yes""#)) == [#"jobs[0] "j": enabled: expected true or false, got a string"#])
        #expect(issues(job(#""concurrency": "forbidd""#)) == [#"jobs[0] "j": concurrency: "forbidd" is not one of "forbid", "allow", "replace" (did you mean "forbid"?)"#])
        #expect(issues(job(#""catch_up": true"#)) == [#"jobs[0] "j": catch_up: expected a string, got a boolean"#])
        #expect(issues(job(#""env": {"A": 1}"#)) == [#"jobs[0] "j": env.A: expected a string, got a number"#])
        #expect(issues(job(#""env": {"SCHEDD_JOB": "x"}"#)) == [#"jobs[0] "j": env.SCHEDD_JOB: is set by schedd for each run and cannot be overridden"#])
        #expect(issues(job(#""env": ["A=1"]"#)) == [#"jobs[0] "j": env: expected an object of strings, got an array"#])
        #expect(issues(job(#""working_dir": "srv""#)) == [#"jobs[0] "j": working_dir: "srv" must be an absolute path"#])
        #expect(issues(job(#""node": "a b""#)) == [#"jobs[0] "j": node: "a b": a node name has only letters, digits, '.', '-' and '_'"#])
        #expect(issues(job(#""output_limit": "lots""#)) == [#"jobs[0] "j": output_limit: "lots" is not a size (use e.g. "64KiB", "1MiB" or a number of bytes)"#])
        #expect(issues(job(#""output_limit": "1GiB""#)) == [#"jobs[0] "j": output_limit: 1GiB is over the maximum of 16MiB"#])
        #expect(issues(job(#""timezone": "Europe/Berln""#)) == [#"jobs[0] "j": timezone: unknown time zone "Europe/Berln" (did you mean "Europe/Berlin"?); use an IANA name such as "Europe/Berlin""#])
        #expect(issues(job(#""schedule": "61 * * * *""#)) == [#"jobs[0] "j": schedule: minute field "61": out of range 0-59"#])
        #expect(issues(job(#""schedule": "@fortnightly""#)).first?.contains(#"unknown macro "@fortnightly""#) == true)
    }

    /// A C call stops at a NUL: `"/tmp\u0000x"` would run in /tmp, `"UTC\u0000x"` be UTC.
    /// Every string of a job is refused with one, not only the argv.
    @Test func nulCharactersAreRefusedInEveryString() {
        for field in ["working_dir", "timezone", "user", "group", "schedule", "description", "node", "catch_up"] {
            #expect(issues(job(#""\#(field)": "/tmp\u0000x""#)) == [#"jobs[0] "j": "# + field + ": contains a NUL character"], "\(field)")
        }
        #expect(issues(#"{"jobs": [{"name": "a", "shell": "true\u0000x"}]}"#) == [#"jobs[0] "a": shell: contains a NUL character"#])
        #expect(issues(#"{"jobs": [{"name": "a", "command": ["true", "\u0000"]}]}"#) == [#"jobs[0] "a": command[1]: contains a NUL character"#])
        #expect(issues(job(#""env": {"A": "\u0000"}"#)) == [#"jobs[0] "j": env.A: contains a NUL character"#])
    }

    /// A service is restarted by its rule and runs as one process: the policies of scheduled
    /// and triggered jobs are refused on it, and its defaults skip it. A definition an earlier
    /// version stored with them (defaults filled them in) is read without them.
    @Test func aServiceTakesNoSchedulingPolicies() throws {
        let service = #"{"name": "s", "shell": "x", "restart": "always", "#
        #expect(issues(#"{"jobs": [\#(service)"retries": 2}]}"#)
            == [#"jobs[0] "s": retries: a service is restarted by its restart rule (restart_delay, restart_limit); retries applies to scheduled and triggered jobs"#])
        #expect(issues(#"{"jobs": [\#(service)"concurrency": "allow"}]}"#)
            == [#"jobs[0] "s": concurrency: a service runs as one process (`schedctl restart` replaces it); concurrency applies to scheduled and triggered jobs"#])
        #expect(issues(#"{"jobs": [\#(service)"jitter": "5s"}]}"#)
            == [#"jobs[0] "s": jitter: a service is started with the daemon and has no schedule; jitter applies to scheduled jobs"#])
        for key in ["retry_backoff", "retry_backoff_max", "catch_up", "max_consecutive_failures"] {
            let value = key == "catch_up" ? #""once""# : key == "max_consecutive_failures" ? "3" : #""5s""#
            #expect(issues(#"{"jobs": [\#(service)"\#(key)": \#(value)}]}"#).count == 1, "\(key)")
        }
        let defaults = #"""
            {"defaults": {"retries": 2, "concurrency": "allow", "jitter": "5s", "catch_up": "once", "max_consecutive_failures": 3,
                          "retry_backoff": "5s", "retry_backoff_max": "1m"},
             "jobs": [{"name": "s", "shell": "x", "restart": "always"}, {"name": "j", "shell": "x", "schedule": "@daily"}]}
            """#
        let file = try decode(defaults)
        let s = try #require(file.jobs.first { $0.name == "s" })
        #expect(s.retries == nil && s.concurrency == nil && s.jitter == nil && s.catchUp == nil && s.maxConsecutiveFailures == nil)
        #expect(s.retryBackoff == nil && s.retryBackoffMax == nil)
        let j = try #require(file.jobs.first { $0.name == "j" })
        #expect(j.retries == 2 && j.concurrency == .allow && j.maxConsecutiveFailures == 3)
        let stored = try JobSpec(json: JSONParser.parse(#"\#(service)"retries": 2, "concurrency": "allow", "jitter": "5s"}"#), context: .stored)
        #expect(stored.isService && stored.retries == nil && stored.concurrency == nil && stored.jitter == nil)
    }

    @Test func namesAreCheckedAndUnique() {
        #expect(issues(#"{"jobs": [{"shell": "x"}]}"#) == [#"jobs[0]: name: required"#])
        #expect(issues(#"{"jobs": [{"name": "-x", "shell": "x"}]}"#).first?.hasPrefix(#"jobs[0]: name: "-x" is not a valid name"#) == true)
        #expect(issues(#"{"jobs": [{"name": "\#(String(repeating: "a", count: 65))", "shell": "x"}]}"#).count == 1)
        #expect(issues(#"{"jobs": [{"name": "a", "shell": "x"}, {"name": "a", "shell": "y"}]}"#) == [#"jobs[1] "a": name: "a" is already used by jobs[0]"#])
    }

    @Test func exactlyOneAction() {
        #expect(issues(#"{"jobs": [{"name": "a"}]}"#) == [#"jobs[0] "a": needs one of "command" (an argv array), "shell" (a string) or "handler""#])
        #expect(issues(#"{"jobs": [{"name": "a", "shell": "x", "handler": "h"}]}"#) == [#"jobs[0] "a": handler: "shell" and "handler" exclude each other: give exactly one"#])
        #expect(issues(#"{"jobs": [{"name": "a", "command": "ls -l"}]}"#) == [#"jobs[0] "a": command: expected an array of strings (argv), got a string; use "shell" for a shell command line"#])
        #expect(issues(#"{"jobs": [{"name": "a", "command": []}]}"#) == [#"jobs[0] "a": command: must not be empty: the first element is the program"#])
        #expect(issues(#"{"jobs": [{"name": "a", "command": ["ls", 1]}]}"#) == [#"jobs[0] "a": command[1]: expected a string, got a number"#])
        #expect(issues(#"{"jobs": [{"name": "a", "shell": "x", "params": {}}]}"#) == [#"jobs[0] "a": params: only allowed with "handler""#])
        #expect(issues(#"{"jobs": [{"name": "a", "handler": "h", "params": [1]}]}"#) == [#"jobs[0] "a": params: expected an object, got an array"#])
    }

    /// Linux refuses to start a process with one argument or variable over 128 KiB: such a
    /// job could never run, so it is refused where it is written.
    @Test func argumentsLongerThanLinuxPassesAreRefused() throws {
        let limit = 131_071
        let long = String(repeating: "x", count: limit - 5)
        let tooLong = String(repeating: "x", count: limit - 4)
        let problem = "is \(limit + 1) bytes; Linux passes at most \(limit) in one argument or variable (put a longer script in a file)"
        _ = try decode(#"{"jobs": [{"name": "a", "shell": "echo \#(long)"}]}"#)
        #expect(issues(#"{"jobs": [{"name": "a", "shell": "echo \#(tooLong)"}]}"#) == [#"jobs[0] "a": shell: "# + problem])
        #expect(issues(#"{"jobs": [{"name": "a", "command": ["echo", "12345\#(tooLong)"]}]}"#) == [#"jobs[0] "a": command[1]: "# + problem])
        #expect(issues(#"{"jobs": [{"name": "a", "shell": "true", "restart": "always", "ready_check": ["test", "-e\#(tooLong)123"]}]}"#)
            == [#"jobs[0] "a": ready_check[1]: "# + problem])
        // NAME=value is one string to the kernel.
        _ = try decode(job(#""env": {"BIG": "\#(long)"}"#))
        #expect(issues(job(#""env": {"BIG": "\#(tooLong)x"}"#)) == [#"jobs[0] "j": env.BIG: "# + problem])
    }

    /// Nor does it start one whose arguments and environment together are over a quarter of
    /// the stack limit (2 MiB under the usual 8 MiB), each of them short enough: refused too.
    @Test func argumentsAndEnvironmentOverLinuxsTotalAreRefused() throws {
        let total = JobFileDecoder.execTotalLimit
        #expect((32 * 4096...6 << 20).contains(total))
        let piece = String(repeating: "x", count: 100_000)
        let fits = (total - (16 << 10)) / 100_020
        let over = total / 100_000 + 1
        let problem = { (bytes: Int) in
            "the command and the environment are \(bytes) bytes together (with what schedd adds); Linux passes at most \(total) to a new program (a quarter of the stack limit, `ulimit -s`): put the data in a file"
        }
        func env(_ count: Int) -> String { (0..<count).map { "\"V\($0)\": \"\(piece)\"" }.joined(separator: ", ") }
        func argv(_ count: Int) -> String { (["\"/bin/echo\""] + Array(repeating: "\"\(piece)\"", count: count)).joined(separator: ", ") }
        _ = try decode(job(#""env": {\#(env(fits))}"#))
        _ = try decode(#"{"jobs": [{"name": "a", "command": [\#(argv(fits))]}]}"#)
        var withEnv = JobSpec(name: "j", action: .shell("true"))
        withEnv.env = Dictionary(uniqueKeysWithValues: (0..<over).map { ("V\($0)", piece) })
        let tooMuchEnv = try #require(JobFileDecoder.execBytes(withEnv))
        #expect(issues(#"{"jobs": [{"name": "j", "shell": "true", "env": {\#(env(over))}}]}"#) == [#"jobs[0] "j": env: "# + problem(tooMuchEnv)])
        let tooManyArguments = try #require(JobFileDecoder.execBytes(JobSpec(name: "a", action: .command(["/bin/echo"] + Array(repeating: piece, count: over)))))
        #expect(issues(#"{"jobs": [{"name": "a", "command": [\#(argv(over))]}]}"#) == [#"jobs[0] "a": command: "# + problem(tooManyArguments)])
        // A handler starts no process.
        #expect(JobFileDecoder.execBytes(JobSpec(name: "h", action: .handler("h", params: nil))) == nil)
    }

    @Test func servicesAndReferences() {
        #expect(issues(job(#""restart": "always", "schedule": "@daily""#)) == [#"jobs[0] "j": schedule: a service (restart: "always") is started with the daemon and has no schedule; remove one of the two"#])
        #expect(issues(job(#""restart_limit": {"burst": 2, "interval": "1m"}"#)) == [#"jobs[0] "j": restart_limit: only applies to a service: set "restart" to "on-failure" or "always""#])
        #expect(issues(job(#""restart": "sometimes""#)) == [#"jobs[0] "j": restart: "sometimes" is not one of "no", "on-failure", "always""#])
        #expect(issues(job(#""restart": "always", "restart_limit": {"burst": 0, "intervl": "1m"}"#)) == [
            #"jobs[0] "j": restart_limit.intervl: unknown field (did you mean "interval"?)"#,
            #"jobs[0] "j": restart_limit.burst: 0 is out of range 1-10000"#,
            #"jobs[0] "j": restart_limit.interval: required"#,
        ])
        #expect(issues(job(#""on_failure": "pagr""#)) == [#"jobs[0] "j": on_failure: no job named "pagr""#])
        #expect(issues(job(#""on_success": "j""#)) == [#"jobs[0] "j": on_success: a job cannot trigger itself"#])
        // A job already in the database may be named.
        var context = rootContext
        context.existingJobs = ["pager"]
        #expect((try? decode(job(#""on_failure": "pager""#), context)) != nil)
        #expect(issues(job(#""on_failure": "pagr""#), context) == [#"jobs[0] "j": on_failure: no job named "pagr" (did you mean "pager"?)"#])
    }

    @Test func orderRequirementsAndReadiness() throws {
        let file = try decode("""
            {"defaults": {"ready_timeout": "2m", "requires_wait": "30s"},
             "jobs": [{"name": "db", "shell": "db", "restart": "always", "ready_check": ["pg_isready", "-q"], "ready_interval": "500ms",
                       "restart_limit": "none", "restart_delay_max": "10s", "restart_reset_after": "1m"},
                      {"name": "app", "shell": "app", "restart": "on-failure", "requires": ["db"], "ready_after": "3s"},
                      {"name": "nightly", "shell": "x", "schedule": "@daily", "after": ["app"], "requires": ["db", "app"]}]}
            """)
        let db = file.jobs[0], app = file.jobs[1], nightly = file.jobs[2]
        #expect(db.readyCheck == .command(["pg_isready", "-q"]))
        #expect(db.readyInterval == .milliseconds(500) && db.readyTimeout == .seconds(120))
        #expect(db.restartLimit == RestartLimit.none && db.restartDelayMax == .seconds(10) && db.restartResetAfter == .seconds(60))
        #expect(db.requiresWait == nil, "a service waits as long as it takes")
        #expect(app.requires == ["db"] && app.readyAfter == .seconds(3) && app.readyTimeout == .seconds(120))
        #expect(nightly.after == ["app"] && nightly.requires == ["db", "app"] && nightly.requiresWait == .seconds(30))
        #expect(nightly.readyTimeout == nil, "ready_* defaults reach services only")
        #expect(nightly.dependencies == ["db", "app"])
        let again = try decode(file.json.serialized())
        #expect(again == file)
        #expect(file.json.serialized().contains(#""restart_limit":"none""#))
    }

    @Test func orderAndRequirementErrors() {
        let services = #"{"name": "db", "shell": "db", "restart": "always"}"#
        func file(_ fields: String) -> String { #"{"jobs": [\#(services), {"name": "j", "shell": "true", \#(fields)}]}"# }
        #expect(issues(file(#""requires": ["dbb"]"#)) == [#"jobs[1] "j": requires[0]: no job named "dbb" (did you mean "db"?)"#])
        #expect(issues(file(#""requires": ["j"]"#)) == [#"jobs[1] "j": requires[0]: a job cannot require itself"#])
        #expect(issues(file(#""after": ["j", "db", "db"]"#)) == [
            #"jobs[1] "j": after[0]: a job cannot be ordered after itself"#, #"jobs[1] "j": after[2]: "db" is listed twice"#,
        ])
        #expect(issues(file(#""after": "db""#)) == [#"jobs[1] "j": after: expected an array of job names, got a string"#])
        #expect(issues(#"{"jobs": [{"name": "a", "shell": "a"}, {"name": "j", "shell": "true", "requires": ["a"]}]}"#) == [
            #"jobs[1] "j": requires[0]: "a" is not a service: only a service (restart: "on-failure" or "always") can be required; use "after" to run after a job"#,
        ])
        #expect(issues(file(#""ready_after": "1s", "ready_check": "true""#)) == [
            #"jobs[1] "j": ready_after: only applies to a service: set "restart" to "on-failure" or "always""#,
            #"jobs[1] "j": ready_check: only applies to a service: set "restart" to "on-failure" or "always""#,
        ])
        #expect(issues(file(#""restart": "always", "ready_after": "1s", "ready_check": "true", "requires_wait": "5s""#)) == [
            #"jobs[1] "j": requires_wait: a service waits for what it requires as long as it takes; requires_wait applies to scheduled and triggered jobs"#,
            #"jobs[1] "j": ready_after: "ready_after" and "ready_check" exclude each other: a service with a ready_check is ready when it passes"#,
        ])
        #expect(issues(file(#""restart": "always", "restart_limit": "never""#)) == [
            #"jobs[1] "j": restart_limit: expected "none" or an object like {"burst": 5, "interval": "60s"}, got a string"#,
        ])
        #expect(issues(file(#""restart": "always", "restart_delay": "10s", "restart_delay_max": "5s""#)) == [
            #"jobs[1] "j": restart_delay_max: is shorter than restart_delay (10s)"#,
        ])
    }

    @Test func cyclesAreRefusedWithTheirPath() {
        let text = #"""
            {"jobs": [{"name": "a", "shell": "a", "restart": "always", "requires": ["b"]},
                      {"name": "b", "shell": "b", "restart": "always", "after": ["c"]},
                      {"name": "c", "shell": "c", "restart": "always", "requires": ["a"]},
                      {"name": "d", "shell": "d", "after": ["a"]}]}
            """#
        #expect(issues(text) == [#"jobs[0] "a": requires: dependency cycle: a -> b -> c -> a"#])
        // Through a job already in the database.
        var context = rootContext
        context.existingJobs = ["web"]
        context.existingServices = ["web"]
        context.existingDependencies = ["web": ["api"]]
        #expect(issues(#"{"jobs": [{"name": "api", "shell": "a", "restart": "always", "after": ["web"]}]}"#, context) == [
            #"jobs[0] "api": after: dependency cycle: api -> web -> api"#,
        ])
        // A job of the file replaces its stored definition: the stored edge is gone.
        context.existingJobs = ["web", "api"]
        context.existingDependencies = ["web": ["api"], "api": ["web"]]
        #expect((try? decode(#"{"jobs": [{"name": "web", "shell": "w", "restart": "always"}]}"#, context)) != nil)
    }

    /// Jobs whose runs trigger each other round a cycle would run without end.
    @Test func triggerCyclesAreRefusedWithTheirPath() {
        let end = ": each run would trigger the next without end (retries repeat a failed run; a chain of jobs must end)"
        #expect(issues(#"""
            {"jobs": [{"name": "a", "shell": "a", "on_failure": "b"},
                      {"name": "b", "shell": "b", "on_failure": "a"}]}
            """#) == [#"jobs[0] "a": on_failure: trigger cycle: a -> b -> a"# + end])
        // Through both kinds of trigger.
        #expect(issues(#"""
            {"jobs": [{"name": "x", "shell": "x"},
                      {"name": "a", "shell": "a", "on_failure": "x", "on_success": "b"},
                      {"name": "b", "shell": "b", "on_failure": "c"},
                      {"name": "c", "shell": "c", "on_success": "a"}]}
            """#) == [#"jobs[1] "a": on_success: trigger cycle: a -> b -> c -> a"# + end])
        // A chain that ends, and two jobs naming the same one, are fine.
        #expect((try? decode(#"""
            {"jobs": [{"name": "a", "shell": "a", "on_failure": "b", "on_success": "b"},
                      {"name": "b", "shell": "b", "on_failure": "n"},
                      {"name": "c", "shell": "c", "on_failure": "n"},
                      {"name": "n", "shell": "n"}]}
            """#, rootContext)) != nil)
        // Through a job already in the database.
        var context = rootContext
        context.existingJobs = ["notify"]
        context.existingTriggers = ["notify": ["backup"]]
        #expect(issues(#"{"jobs": [{"name": "backup", "shell": "b", "on_failure": "notify"}]}"#, context) == [
            #"jobs[0] "backup": on_failure: trigger cycle: backup -> notify -> backup"# + end,
        ])
        // A job of the file replaces its stored definition: the stored edge is gone.
        context.existingJobs = ["notify", "backup"]
        context.existingTriggers = ["notify": ["backup"], "backup": ["notify"]]
        #expect((try? decode(#"{"jobs": [{"name": "notify", "shell": "n"}]}"#, context)) != nil)
    }

    @Test func accountsNeedRootAndMustExist() {
        #expect(issues(job(#""user": "root""#), userContext) == [#"jobs[0] "j": user: running a job as another user needs schedd to run as root"#])
        #expect(issues(job(#""user": "no-such-user-xyz""#)) == [#"jobs[0] "j": user: no such user "no-such-user-xyz" on this system"#])
        #expect(issues(job(#""group": "no-such-group-xyz""#)) == [#"jobs[0] "j": group: no such group "no-such-group-xyz" on this system"#])
    }

    @Test func handlersAreCheckedWhenKnown() {
        var context = rootContext
        context.handlers = ["refresh-token"]
        #expect(issues(#"{"jobs": [{"name": "a", "handler": "refresh-tokn"}]}"#, context) == [#"jobs[0] "a": handler: no handler named "refresh-tokn" is registered (did you mean "refresh-token"?)"#])
    }

    @Test func everyErrorOfAFileIsReportedAtOnce() {
        let found = issues("""
            {"defaults": {"timeout": "10 minutes"},
             "jobs": [{"name": "a", "shell": "x", "shedule": "@daily", "retries": -1},
                      {"name": "b", "command": "x", "on_failure": "nope"},
                      "not a job"]}
            """)
        #expect(found == [
            #"defaults.timeout: "10 minutes" is not a duration (try "10m")"#,
            #"jobs[0] "a": shedule: unknown field (did you mean "schedule"?)"#,
            #"jobs[0] "a": retries: -1 is out of range 0-100"#,
            #"jobs[1] "b": command: expected an array of strings (argv), got a string; use "shell" for a shell command line"#,
            #"jobs[1] "b": on_failure: no job named "nope""#,
            #"jobs[2]: a job must be an object, got a string"#,
        ])
    }

    @Test func fileShapeErrors() {
        #expect(issues("[]") == [#"the file must be a JSON object with a "jobs" array, got an array"#])
        #expect(issues("{}") == ["jobs: required: the array of jobs"])
        #expect(issues(#"{"jobs": {}}"#) == ["jobs: expected an array of jobs, got an object"])
        #expect(issues(#"{"jobs": [], "defaults": 1}"#) == ["defaults: expected an object, got a number"])
        #expect(issues("{\"jobs\": [}") == ["line 1, column 11: unexpected '}', expected a value"])
    }

    @Test func singleJobDecodingChecksReferencesOnlyWhenAsked() throws {
        let value = try JSONParser.parse(#"{"name": "a", "shell": "x", "on_failure": "elsewhere"}"#)
        #expect(throws: APIError.self) { try JobSpec(json: value, context: rootContext) }
        #expect((try? JobSpec(json: value, context: .stored))?.onFailure == "elsewhere")
    }

    @Test func apiErrorEncodesAsTheWireFormat() throws {
        let error = APIError(.notFound, "no job named \"x\"")
        let data = try JSONEncoder().encode(error)
        #expect(String(decoding: data, as: UTF8.self).contains(#""code":"not_found""#))
        #expect(try JSONDecoder().decode(APIError.self, from: data) == error)
    }
}
