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

/// The two ways a process run enters its cgroup: what each runs and how each fails. (That a run
/// really lands in its cgroup is `ProcessExecutionTests`' escapee tests, with both entries.)
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

    func run(_ entry: CgroupEntry, procs: String, _ executable: String, _ arguments: [String] = [])
        async throws -> (status: TerminationStatus, stdout: String, stderr: String) {
        let (program, wrapped) = entry.wrap(procs: procs, executable: executable, arguments: arguments)
        let result = try await Subprocess.run(
            .path(FilePath(program)), arguments: Arguments(wrapped), environment: .custom(["MARK": "kept", "PATH": "/usr/bin:/bin"]),
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
}
