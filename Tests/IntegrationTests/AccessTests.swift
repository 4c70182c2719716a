import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Who may do what, with real local accounts, the real `schedd` and `schedctl` run as them.
@Suite(.ownThreads, .enabled(if: TestAccounts.available, "needs root, useradd and setpriv"))
struct AccessTests {
    static let adminJobs = #"{"jobs": [{"name": "admin-job", "shell": "echo admin"}]}"#

    /// A job file a user writes, readable by them.
    static func file(_ d: Daemon, _ name: String, _ text: String) throws -> String {
        let path = try d.scratch.write(name, text)
        chmod(path, 0o644)
        return path
    }

    @Test func aUsersJobRunsAsThemAndNoOtherUserCanSeeOrTouchIt() throws {
        let accounts = try TestAccounts()
        let alice = try accounts.add(member: true)
        let bob = try accounts.add(member: true)
        let d = try Daemon(jobs: Self.adminJobs, extra: ["--allow-users", accounts.group])
        let job = try Self.file(d, "backup.json", #"{"jobs": [{"name": "backup", "shell": "id -u; id -G"}]}"#)

        let applied = try accounts.schedctl(as: alice, socket: d.socket, ["apply", job])
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(applied.stdout.contains("backup") && !applied.stdout.contains("\(alice.name)/"), "\(applied.stdout)")
        let ran = try accounts.schedctl(as: alice, socket: d.socket, ["run", "backup", "--wait"])
        #expect(ran.status == 0, "\(ran.stderr)")
        let lines = ran.stdout.split(separator: "\n")
        #expect(lines.first == "\(alice.uid)", "\(ran.stdout)")
        // Her supplementary groups too: the test group is one of them.
        let groupID = try #require(getgrnam(accounts.group)?.pointee.gr_gid)
        #expect(lines.dropFirst().first?.split(separator: " ").contains("\(groupID)") == true, "\(ran.stdout)")

        // Bob has a job of the same name; each sees only their own, by its short name.
        #expect(try accounts.schedctl(as: bob, socket: d.socket, ["apply", job]).status == 0)
        let aliceList = try accounts.schedctl(as: alice, socket: d.socket, ["list"])
        #expect(aliceList.status == 0)
        #expect(aliceList.stdout.contains("backup") && !aliceList.stdout.contains("admin-job") && !aliceList.stdout.contains("/"), "\(aliceList.stdout)")

        // Admins see everyone's, by the full name, and can act on them.
        let adminList = try d.ctl(["list"]).stdout
        for name in ["admin-job", "\(alice.name)/backup", "\(bob.name)/backup"] { #expect(adminList.contains(name), "\(adminList)") }
        let adminShow = try d.ctl(["show", "\(alice.name)/backup"])
        #expect(adminShow.status == 0 && adminShow.stdout.hasPrefix("\(alice.name)/backup"), "\(adminShow.stdout) \(adminShow.stderr)")

        // Bob cannot reach Alice's job or run by any verb: the same answer as for what does not exist.
        let runID = try sqlite(d.db, "SELECT id FROM runs WHERE job = '\(alice.name)/backup'")
        for (verb, missing) in [("show", "no job named"), ("run", "no job named"), ("pause", "no job named"), ("resume", "no job named"),
                                ("remove", "no job named"), ("cancel", "no job named")] {
            let theirs = try accounts.schedctl(as: bob, socket: d.socket, [verb, "\(alice.name)/backup"])
            let nothing = try accounts.schedctl(as: bob, socket: d.socket, [verb, "nosuch"])
            #expect(theirs.status == nothing.status && theirs.status != 0, "\(verb): \(theirs.stderr)")
            #expect(theirs.stderr.contains(missing) && nothing.stderr.contains(missing), "\(verb): \(theirs.stderr) / \(nothing.stderr)")
            #expect(!theirs.stderr.contains("\(bob.name)/"), "\(theirs.stderr)")
        }
        // A near miss is offered among the caller's own jobs only, by the name they know.
        let near = try accounts.schedctl(as: bob, socket: d.socket, ["show", "bakup"])
        #expect(near.status == 1 && near.stderr.contains("no job named \"bakup\" (did you mean \"backup\"?)"), "\(near.stderr)")
        let notTheirs = try accounts.schedctl(as: bob, socket: d.socket, ["show", "admin-jb"])
        #expect(notTheirs.status == 1 && !notTheirs.stderr.contains("did you mean"), "\(notTheirs.stderr)")
        #expect(try d.ctl(["show", "admin-jb"]).stderr.contains("(did you mean \"admin-job\"?)"))
        for verb in [["logs", runID], ["cancel", runID]] {
            let theirs = try accounts.schedctl(as: bob, socket: d.socket, verb)
            #expect(theirs.status != 0 && theirs.stderr.contains("no run \(runID)"), "\(verb): \(theirs.stderr)")
        }
        let history = try accounts.schedctl(as: bob, socket: d.socket, ["history"])
        #expect(history.status == 0 && !history.stdout.contains(runID + " "), "\(history.stdout)")
        #expect(try sqlite(d.db, "SELECT count(*) FROM jobs WHERE name = '\(alice.name)/backup'") == "1")
        // The audit trail names who did it.
        let caller = "uid \(alice.uid) (\(alice.name))"
        #expect(try sqlite(d.db, "SELECT created_by || '|' || changed_by FROM jobs WHERE name = '\(alice.name)/backup'") == "\(caller)|\(caller)")
        #expect(try sqlite(d.db, "SELECT triggered_by FROM runs WHERE id = \(runID)") == caller)
        #expect(try sqlite(d.db, "SELECT created_by FROM jobs WHERE name = 'admin-job'").hasPrefix("file "))
        let shown = try accounts.schedctl(as: alice, socket: d.socket, ["show", "backup"]).stdout
        #expect(shown.contains("created by: \(caller)"), "\(shown)")
        let adminHistory = try d.ctl(["history", "\(alice.name)/backup"]).stdout
        #expect(adminHistory.contains(" BY ") && adminHistory.contains(" \(alice.name) "), "\(adminHistory)")
        #expect(try sqlite(d.db, "SELECT paused FROM job_state WHERE job = '\(alice.name)/backup'") == "0")
        withExtendedLifetime(accounts) {}
    }

    @Test func aUserCannotMakeAJobRunAsAnyoneElseOrNameOthersJobs() throws {
        let accounts = try TestAccounts()
        let alice = try accounts.add(member: true)
        let d = try Daemon(jobs: Self.adminJobs, extra: ["--allow-users", accounts.group])
        let attempts = [
            ("user", #"{"jobs": [{"name": "x", "shell": "id", "user": "root"}]}"#),
            ("user", #"{"defaults": {"user": "root"}, "jobs": [{"name": "x", "shell": "id"}]}"#),
            ("group", #"{"jobs": [{"name": "x", "shell": "id", "group": "root"}]}"#),
            ("on_failure", #"{"jobs": [{"name": "x", "shell": "id", "on_failure": "admin-job"}]}"#),
            ("requires[0]", #"{"jobs": [{"name": "x", "shell": "id", "requires": ["admin-job"]}]}"#),
        ]
        for (index, (field, text)) in attempts.enumerated() {
            let path = try Self.file(d, "attempt\(index).json", text)
            let refused = try accounts.schedctl(as: alice, socket: d.socket, ["apply", path])
            #expect(refused.status == 2, "\(text): \(refused.stdout) \(refused.stderr)")
            #expect(refused.stderr.contains("\"x\": \(field):"), "\(text): \(refused.stderr)")
            #expect(!refused.stderr.contains("\(alice.name)/"), "\(refused.stderr)")
        }
        // PUT is the same road.
        let put = try accounts.schedctl(as: alice, socket: d.socket, ["apply", "-"], input: #"{"jobs": [{"name": "y", "shell": "id", "user": "0"}]}"#)
        #expect(put.status == 2)
        #expect(try sqlite(d.db, "SELECT group_concat(name) FROM jobs") == "admin-job")

        // Admin verbs are refused to users.
        let reload = try accounts.schedctl(as: alice, socket: d.socket, ["reload"])
        #expect(reload.status == 1 && reload.stderr.contains("only an admin may reload"), "\(reload.stderr)")
        withExtendedLifetime(accounts) {}
    }

    @Test func outsidersAreRefusedAndTheOldSocketGroupStillMakesAdmins() throws {
        let accounts = try TestAccounts()
        let member = try accounts.add(member: true)
        let outsider = try accounts.add(member: false)
        let users = try Daemon(jobs: Self.adminJobs, extra: ["--allow-users", accounts.group])
        let refused = try accounts.schedctl(as: outsider, socket: users.socket, ["list"])
        #expect(refused.status == 1 && refused.stderr.contains("may use schedd's socket"), "\(refused.stderr)")

        let legacy = try Daemon(jobs: Self.adminJobs, extra: ["--socket-group", accounts.group])
        #expect(legacy.process.stderr().contains("--socket-group is deprecated"))
        let list = try accounts.schedctl(as: member, socket: legacy.socket, ["list"])
        #expect(list.status == 0 && list.stdout.contains("admin-job"), "\(list.stdout) \(list.stderr)")
        #expect(try accounts.schedctl(as: outsider, socket: legacy.socket, ["list"]).status == 1)
        withExtendedLifetime(accounts) {}
    }

    /// A socket directory that a user may not search (systemd's RuntimeDirectoryMode=0750, as
    /// the unit once had) keeps even an admin out: schedctl names the directory, not the admin
    /// group the user is already in.
    @Test func aSocketDirectoryThatKeepsAUserOutIsNamed() throws {
        let accounts = try TestAccounts()
        let admin = try accounts.add(member: true)
        let scratch = try Scratch()
        let run = scratch.path("run")
        #expect(mkdir(run, 0o750) == 0 && chmod(run, 0o750) == 0)
        let d = try Daemon(jobs: Self.adminJobs, extra: ["--admin-group", accounts.group, "--socket", run + "/schedd.sock"])
        // schedd says so as it starts.
        #expect(d.process.stderr().contains("the socket's directory keeps clients out"), "\(d.process.stderr())")
        #expect(d.process.stderr().contains("schedd.kept_out=\"the admin group\""), "\(d.process.stderr())")
        let refused = try accounts.schedctl(as: admin, socket: d.socket, ["status"])
        #expect(refused.status == 1)
        #expect(refused.stderr.hasPrefix("schedctl: permission denied on schedd's socket \(d.socket): its directory \(run) (mode 0750, owner root, group root) does not let your user (uid \(admin.uid)) through"),
                "\(refused.stderr)")
        #expect(chmod(run, 0o755) == 0)
        let allowed = try accounts.schedctl(as: admin, socket: d.socket, ["status"])
        #expect(allowed.status == 0, "\(allowed.stderr)")
        withExtendedLifetime(scratch) {}
    }

    @Test func noSocketInADirectorySomeoneElseControls() throws {
        let accounts = try TestAccounts()
        let bob = try accounts.add(member: false)
        let scratch = try Scratch()
        // Owned by another user: schedd refuses to serve there.
        let theirs = scratch.path("theirs")
        try FileManager.default.createDirectory(atPath: theirs, withIntermediateDirectories: false)
        chown(theirs, bob.uid, bob.gid)
        chmod(theirs, 0o755)
        let refused = try DaemonProcess(["--db", scratch.path("a.db"), "--socket", theirs + "/s.sock"], log: scratch.path("a.log"))
        #expect(refused.waitForExit(timeout: 20) == 1)
        #expect(refused.stderr().contains("belongs to uid \(bob.uid)"), "\(refused.stderr())")
        // Writable by everyone: refused too.
        let open = scratch.path("open")
        try FileManager.default.createDirectory(atPath: open, withIntermediateDirectories: false)
        chmod(open, 0o777)
        let openRefused = try DaemonProcess(["--db", scratch.path("b.db"), "--socket", open + "/s.sock"], log: scratch.path("b.log"))
        #expect(openRefused.waitForExit(timeout: 20) == 1)
        #expect(openRefused.stderr().contains("may be written by its group and everyone else"), "\(openRefused.stderr())")

        // schedctl will not talk through a directory others may write, whoever made it so.
        let d = try Daemon(jobs: Self.adminJobs)
        let directory = (d.socket as NSString).deletingLastPathComponent
        chmod(directory, 0o777)
        let client = try d.ctl(["list"])
        chmod(directory, 0o755)
        #expect(client.status == 1 && client.stderr.contains("refusing schedd's socket"), "\(client.stderr)")
        #expect(try d.ctl(["list"]).status == 0)
        withExtendedLifetime(accounts) {}
    }
}

extension AccessTests {
    @Test func oneUserCannotTakeEveryWorkerOrPileUpJobs() throws {
        let accounts = try TestAccounts()
        let alice = try accounts.add(member: true)
        let d = try Daemon(jobs: Self.adminJobs, extra: ["--allow-users", accounts.group, "--user-max-runs", "1", "--user-max-jobs", "2"])
        let two = try Self.file(d, "two.json", #"{"jobs": [{"name": "slow", "shell": "sleep 30"}, {"name": "quick", "shell": "true"}]}"#)
        #expect(try accounts.schedctl(as: alice, socket: d.socket, ["apply", two]).status == 0)
        let third = try Self.file(d, "three.json", #"{"jobs": [{"name": "third", "shell": "true"}]}"#)
        let tooMany = try accounts.schedctl(as: alice, socket: d.socket, ["apply", third])
        #expect(tooMany.status == 1 && tooMany.stderr.contains("at most 2 (schedd's --user-max-jobs)"), "\(tooMany.stderr)")
        // Replacing the whole set stays within the limit.
        let swap = try accounts.schedctl(as: alice, socket: d.socket, ["apply", "--prune", third])
        #expect(swap.status == 0, "\(swap.stderr)")
        #expect(try accounts.schedctl(as: alice, socket: d.socket, ["apply", "--prune", two]).status == 0)

        #expect(try accounts.schedctl(as: alice, socket: d.socket, ["run", "slow"]).status == 0)
        let second = try accounts.schedctl(as: alice, socket: d.socket, ["run", "quick"])
        #expect(second.status == 1 && second.stderr.contains("the most one user may have"), "\(second.stdout) \(second.stderr)")
        #expect(!second.stderr.contains("\(alice.name)/"), "\(second.stderr)")
        // The admins' jobs are not held back by it.
        #expect(try d.ctl(["run", "admin-job", "--wait"]).status == 0)
        #expect(try accounts.schedctl(as: alice, socket: d.socket, ["cancel", "slow"]).status == 0)
        #expect(eventually {
            (try? sqlite(d.db, "SELECT status || '|' || cancelled_by FROM runs WHERE job = '\(alice.name)/slow'")) == "cancelled|uid \(alice.uid) (\(alice.name))"
        })
        withExtendedLifetime(accounts) {}
    }
}

extension AccessTests {
    @Test func aUserHearsOnlyOfTheirOwnJobs() throws {
        let accounts = try TestAccounts()
        let alice = try accounts.add(member: true)
        let d = try Daemon(jobs: Self.adminJobs, extra: ["--allow-users", accounts.group])
        let job = try Self.file(d, "mine.json", #"{"jobs": [{"name": "mine", "shell": "echo hello"}]}"#)
        #expect(try accounts.schedctl(as: alice, socket: d.socket, ["apply", job]).status == 0)

        let output = d.scratch.path("events.txt"), errors = d.scratch.path("events.err")
        for path in [output, errors] { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        let events = Process()
        events.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        events.arguments = ["--reuid=\(alice.uid)", "--regid=\(alice.gid)", "--init-groups", Binaries.schedctl.path, "--socket", d.socket, "--json", "events"]
        events.standardOutput = FileHandle(forWritingAtPath: output)
        events.standardError = FileHandle(forWritingAtPath: errors)
        try events.run()
        defer { if events.isRunning { events.terminate() }; events.waitUntilExit() }
        #expect(eventually { ((try? String(contentsOfFile: errors, encoding: .utf8)) ?? "").contains("following schedd's events") })
        // The admins' run first, then hers: events come in order, so once hers has ended, any
        // of the admins' would already be here.
        #expect(try d.ctl(["run", "admin-job", "--wait"]).status == 0)
        #expect(try accounts.schedctl(as: alice, socket: d.socket, ["run", "mine", "--wait"]).status == 0)
        #expect(eventually {
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            return text.contains(#""type":"run_finished""#) && text.contains(#""job":"mine""#)
        })
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        #expect(!text.contains("admin-job") && !text.contains("\(alice.name)/"), "\(text)")
        withExtendedLifetime(accounts) {}
    }
}

extension AccessTests {
    /// A user's prune that removes a job of hers which an admin's job names is made; she is
    /// not told of the admin's job (nor is her status), the admins' status names it.
    @Test func aUsersPruneDoesNotTellHerOfAnAdminsJobNamingHers() throws {
        let accounts = try TestAccounts()
        let alice = try accounts.add(member: true)
        let d = try Daemon(jobs: Self.adminJobs, extra: ["--allow-users", accounts.group])
        let both = try Self.file(d, "both.json", #"{"jobs": [{"name": "x", "shell": "true"}, {"name": "y", "shell": "true"}]}"#)
        #expect(try accounts.schedctl(as: alice, socket: d.socket, ["apply", both]).status == 0)
        let watch = try d.ctl(["apply", "-"], input: #"{"jobs": [{"name": "watch", "shell": "true", "on_failure": "\#(alice.name)/x"}]}"#)
        #expect(watch.status == 0, "\(watch.stderr)")
        let onlyY = try Self.file(d, "y.json", #"{"jobs": [{"name": "y", "shell": "true"}]}"#)
        let pruned = try accounts.schedctl(as: alice, socket: d.socket, ["apply", "--prune", onlyY])
        #expect(pruned.status == 0 && pruned.stdout == "removed: x\nunchanged: y\n", "\(pruned.stdout) \(pruned.stderr)")
        #expect(pruned.stderr.isEmpty, "\(pruned.stderr)")
        let hers = try accounts.schedctl(as: alice, socket: d.socket, ["status"])
        #expect(hers.status == 0 && !hers.stdout.contains("watch"), "\(hers.stdout)")
        let admins = try d.ctl(["status"])
        #expect(admins.status == 1, "\(admins.stdout)")
        #expect(admins.stdout.contains("  watch: broken_reference (on_failure: no job named \"\(alice.name)/x\": its runs' ends trigger nothing there)\n"), "\(admins.stdout)")
        withExtendedLifetime(accounts) {}
    }

    @Test func anAdminDeclaresAUsersJobInTheFileAndTheUserRunsItButCannotChangeIt() throws {
        let accounts = try TestAccounts()
        let alice = try accounts.add(member: true)
        let d = try Daemon(jobs: #"{"jobs": [{"name": "\#(alice.name)/nightly", "shell": "id -un"}]}"#, extra: ["--allow-users", accounts.group])
        let ran = try accounts.schedctl(as: alice, socket: d.socket, ["run", "nightly", "--wait"])
        #expect(ran.status == 0 && ran.stdout == "\(alice.name)\n", "\(ran.stdout) \(ran.stderr)")
        let removed = try accounts.schedctl(as: alice, socket: d.socket, ["remove", "nightly"])
        #expect(removed.status == 1 && removed.stderr.contains(#"job "nightly" is defined in"#), "\(removed.stderr)")
        // An admin names it in full, in a path too.
        let body = #"{"name": "\#(alice.name)/other", "shell": "true"}"#
        let put = d.raw(Array("PUT /v1/jobs/\(alice.name)%2Fother HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)".utf8))
        #expect(put.hasPrefix("HTTP/1.1 200"), "\(put)")
        #expect(try sqlite(d.db, "SELECT json_extract(spec, '$.user') FROM jobs WHERE name = '\(alice.name)/other'") == alice.name)
        let mine = try accounts.schedctl(as: alice, socket: d.socket, ["list"]).stdout
        #expect(mine.contains("nightly") && mine.contains("other"), "\(mine)")
        withExtendedLifetime(accounts) {}
    }
}
