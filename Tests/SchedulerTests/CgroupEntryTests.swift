import Foundation
import Subprocess
import Testing
@testable import Scheduler
#if canImport(Glibc)
import Glibc
#endif
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// The two ways a process run enters its cgroup and takes its job's account: what each runs and
/// how each fails. (That a run really lands in its cgroup is `ProcessExecutionTests`' escapee
/// tests, with both entries.)
@Suite struct CgroupEntryTests {
    /// `swift build` puts the helper beside the test bundle as beside `schedd`: were it not
    /// found, every cgroup test would quietly take the shell's path.
    @Test func theHelperIsFoundBesideTheProgram() throws {
        guard case let .helper(path) = CgroupEntry.besideExecutable() else {
            Issue.record("\(CgroupEntry.helperName) was not found beside the test program: is it built?")
            return
        }
        #expect(path.hasSuffix("/\(CgroupEntry.helperName)"))
    }

    static func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("schedd-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static let entries: [CgroupEntry] = [CgroupEntry.besideExecutable(), .shell]

    func run(_ entry: CgroupEntry, procs: String?, fileLimit: UInt64? = nil, identity: RunIdentity? = nil, _ executable: String,
             _ arguments: [String] = []) async throws -> (status: TerminationStatus, stdout: String, stderr: String) {
        let (program, wrapped) = entry.wrap(procs: procs, fileLimit: fileLimit, identity: identity, executable: executable, arguments: arguments)
        return try await Self.spawn(program, wrapped)
    }

    static func spawn(_ program: String, _ arguments: [String]) async throws -> (status: TerminationStatus, stdout: String, stderr: String) {
        let result = try await Subprocess.run(
            .path(FilePath(program)), arguments: Arguments(arguments), environment: .custom(["MARK": "kept", "PATH": "/usr/bin:/bin"]),
            output: .string(limit: 65_536), error: .string(limit: 65_536))
        return (result.terminationStatus, result.standardOutput, result.standardError)
    }

    /// A "move" into /dev/null succeeds without a cgroup: what follows is the exec of the job,
    /// with its arguments as given (spaces, quotes, an empty one) and the environment kept.
    @Test(arguments: Self.entries)
    func theJobRunsInItsPlaceWithItsArgumentsAndEnvironment(entry: CgroupEntry) async throws {
        let result = try await run(entry, procs: "/dev/null", "/bin/sh",
                                   ["-c", #"printf '%s|' "$0" "$@"; echo "$MARK"; exit 3"#, "zero", "a b", "", "'q'"])
        #expect(result.status == .exited(3))
        #expect(result.stdout == "zero|a b||'q'|kept\n")
        #expect(result.stderr == "")
    }

    @Test(arguments: Self.entries)
    func aFailedMoveFailsTheRunWith125BeforeTheJobRuns(entry: CgroupEntry) async throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let marker = dir + "/ran"
        let result = try await run(entry, procs: "/nonexistent/cgroup.procs", "/bin/touch", [marker])
        #expect(result.status == .exited(125))
        #expect(result.stderr.contains("schedd: cannot move the run into its cgroup /nonexistent/cgroup.procs"))
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test(arguments: Self.entries)
    func aProgramThatCannotBeRunExitsAsTheShellWould(entry: CgroupEntry) async throws {
        let missing = try await run(entry, procs: "/dev/null", "/nonexistent/program")
        #expect(missing.status == .exited(127))
        #expect(missing.stderr.contains("/nonexistent/program"))
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let notExecutable = dir + "/plain"
        #expect(FileManager.default.createFile(atPath: notExecutable, contents: Data("echo no\n".utf8), attributes: [.posixPermissions: 0o644]))
        let refused = try await run(entry, procs: "/dev/null", notExecutable)
        #expect(refused.status == .exited(126))
        #expect(refused.stdout == "")
    }

    /// The run's soft limit on open files is set, never above the hard one, which stays;
    /// with a move into a cgroup first or without.
    @Test(arguments: Self.entries, [true, false])
    func theRunStartsWithTheFileLimitItIsGiven(entry: CgroupEntry, moving: Bool) async throws {
        let hard = try #require(OpenFileLimit.current).hard
        try #require(hard > 100, "the hard limit on open files is \(hard)")
        let show = ["-c", "ulimit -S -n; ulimit -H -n"]
        let lowered = try await run(entry, procs: moving ? "/dev/null" : nil, fileLimit: 100, "/bin/sh", show)
        #expect(lowered.status == .exited(0), "\(lowered.stderr)")
        #expect(lowered.stdout == "100\n\(hard)\n")
        let capped = try await run(entry, procs: moving ? "/dev/null" : nil, fileLimit: hard + 1000, "/bin/sh", show)
        #expect(capped.status == .exited(0), "\(capped.stderr)")
        #expect(capped.stdout == "\(hard)\n\(hard)\n")
    }

    /// An engine asked for the limit runs have anyway starts them as they are (no entry
    /// program for nothing).
    @Test func aFileLimitRunsHaveAnywayChangesNothing() throws {
        let limit = try #require(OpenFileLimit.current)
        #expect(CommandExecutor.lowering(to: limit.soft) == nil)
        if limit.soft == limit.hard {
            #expect(CommandExecutor.lowering(to: limit.hard + 1) == nil)
        }
        if limit.soft > 10 {
            #expect(CommandExecutor.lowering(to: 10) == 10)
        }
    }

    /// nobody, nogroup and a second group: what a run of a job with `user` and `group` takes.
    static func stranger() throws -> RunIdentity {
        let nobody = try #require(AccountDatabase.user("nobody"))
        let nogroup = try #require(AccountDatabase.groupID("nogroup"))
        return RunIdentity(uid: nobody.uid, gid: nogroup, groups: [nogroup, 4242])
    }

    /// Real, effective, saved and filesystem ids, as the kernel has them for the process.
    static let showIDs = #"id -u; id -g; id -G; grep -E '^(Uid|Gid|Groups):' /proc/self/status | tr -s '\t ' ' '"#

    /// The account is taken whole, groups first, and for good: no saved id is left to take
    /// schedd's back. With and without a cgroup to move into first (runs tracked through `/proc`
    /// switch accounts through the same program).
    @Test(.enabled(if: geteuid() == 0, "needs root"), arguments: Self.entries, [true, false])
    func theRunTakesTheJobsAccountWhole(entry: CgroupEntry, moving: Bool) async throws {
        let who = try Self.stranger()
        let result = try await run(entry, procs: moving ? "/dev/null" : nil, identity: who, "/bin/sh", ["-c", Self.showIDs])
        #expect(result.status == .exited(0), "\(result.stderr)")
        let (u, g) = (who.uid, who.gid)
        // The kernel keeps the groups sorted.
        let groups = who.groups.sorted().map(String.init).joined(separator: " ")
        #expect(result.stdout == "\(u)\n\(g)\n\(g) 4242\nUid: \(u) \(u) \(u) \(u)\nGid: \(g) \(g) \(g) \(g)\nGroups: \(groups) \n")
    }

    /// An empty list of supplementary groups clears the ones schedd (root) has.
    @Test(.enabled(if: geteuid() == 0, "needs root"), arguments: Self.entries)
    func noSupplementaryGroupsLeavesNoneOfSchedds(entry: CgroupEntry) async throws {
        let nobody = try #require(AccountDatabase.user("nobody"))
        let result = try await run(entry, procs: nil, identity: RunIdentity(uid: nobody.uid, gid: nobody.gid, groups: []), "/bin/sh", ["-c", "id -G"])
        #expect(result.status == .exited(0), "\(result.stderr)")
        #expect(result.stdout == "\(nobody.gid)\n")
    }

    /// Neither a cgroup nor an account: the job is started as it is.
    @Test(arguments: Self.entries)
    func nothingToDoBeforeTheJobStartsTheJobItself(entry: CgroupEntry) {
        let (program, arguments) = entry.wrap(procs: nil, identity: nil, executable: "/bin/echo", arguments: ["a"])
        #expect(program == "/bin/echo" && arguments == ["a"])
    }

    static var helper: String? {
        guard case let .helper(path) = CgroupEntry.besideExecutable() else { return nil }
        return path
    }

    /// Arguments that are not what schedd passes are refused before anything changes, with the
    /// option and the text named. (`RUN` stands for a program that would leave a file.)
    @Test(arguments: [
        (["--uid", "nobody", "--", "RUN"], "--uid takes a numeric id, not \"nobody\""),
        (["--uid", "4294967295", "--", "RUN"], "--uid takes a numeric id, not \"4294967295\""),
        (["--gid", "-1", "--", "RUN"], "--gid takes a numeric id, not \"-1\""),
        (["--groups", "1,,2", "--", "RUN"], "--groups takes a comma-separated list of numeric group ids, not \"1,,2\""),
        (["--groups", "1,", "--", "RUN"], "--groups takes a comma-separated list of numeric group ids, not \"1,\""),
        (["--user", "0", "--", "RUN"], "usage: schedd-cgroup-exec"),
        (["--uid"], "usage: schedd-cgroup-exec"),
        (["--nofile", "0", "--", "RUN"], "--nofile takes a positive number, not \"0\""),
        (["--nofile", "1k", "--", "RUN"], "--nofile takes a positive number, not \"1k\""),
        (["--nofile", "99999999999999999999", "--", "RUN"], "--nofile takes a positive number, not \"99999999999999999999\""),
        (["--uid", "0", "--"], "usage: schedd-cgroup-exec"),
    ])
    func theHelperRefusesArgumentsItDoesNotTake(arguments: [String], message: String) async throws {
        let helper = try #require(Self.helper, "\(CgroupEntry.helperName) is not built beside the test program")
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try await Self.spawn(helper, arguments.flatMap { $0 == "RUN" ? ["/bin/touch", dir + "/ran"] : [$0] })
        #expect(result.status == .exited(125))
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/ran"))
    }

    /// A switch the kernel refuses (the helper is not root here) fails the run before the job
    /// runs, naming what it could not do.
    @Test(.enabled(if: geteuid() == 0 && FileManager.default.isExecutableFile(atPath: CgroupEntry.setpriv), "needs root and setpriv"))
    func aRefusedSwitchFailsTheRunWith125() async throws {
        let nobody = try #require(AccountDatabase.user("nobody"))
        let helper = try #require(Self.helper, "\(CgroupEntry.helperName) is not built beside the test program")
        let asNobody = ["--reuid=\(nobody.uid)", "--regid=\(nobody.gid)", "--clear-groups", "--", helper]
        let groups = try await Self.spawn(CgroupEntry.setpriv, asNobody + ["--groups", "", "--gid", "0", "--uid", "0", "--", "/bin/true"])
        #expect(groups.status == .exited(125))
        #expect(groups.stderr == "schedd: cannot set the run's supplementary groups to none: Operation not permitted\n")
        let user = try await Self.spawn(CgroupEntry.setpriv, asNobody + ["--uid", "0", "--", "/bin/true"])
        #expect(user.status == .exited(125))
        #expect(user.stderr == "schedd: cannot switch the run to uid 0: Operation not permitted\n")
    }
}
