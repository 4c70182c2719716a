import Foundation
import SchedulerAPI
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite(.ownThreads) struct ValidateCommandTests {
    static let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../jobs.example.json").standardized.path

    @Test func theExampleFileIsValid() throws {
        let result = try Binaries.run(Binaries.schedctl, ["validate", Self.example])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("valid, 6 jobs"))
    }

    @Test func aBrokenCopyFailsWithAMessagePerMistake() throws {
        let scratch = try Scratch()
        var text = try String(contentsOfFile: Self.example, encoding: .utf8)
        text = text.replacingOccurrences(of: #""schedule": "0 3 * * *""#, with: #""shedule": "0 3 * * *""#)
        text = text.replacingOccurrences(of: #""timeout": "20s""#, with: #""timeout": "20 seconds""#)
        text = text.replacingOccurrences(of: #""name": "notify-failure""#, with: #""name": "notify-failures""#)
        let file = try scratch.write("broken.json", text)
        let result = try Binaries.run(Binaries.schedctl, ["validate", file])
        #expect(result.status == 2)
        #expect(result.stderr.contains(#"jobs[0] "backup-etc": shedule: unknown field (did you mean "schedule"?)"#))
        #expect(result.stderr.contains(#"jobs[2] "disk-space": timeout: "20 seconds" is not a duration (try "20s")"#))
        #expect(result.stderr.contains(#"on_failure: no job named "notify-failure" (did you mean "notify-failures"?)"#))
    }

    @Test func jsonOutputAndStdin() throws {
        let ok = try Binaries.run(Binaries.schedctl, ["--json", "validate", "-"], input: #"{"jobs": [{"name": "a", "shell": "true"}]}"#)
        #expect(ok.status == 0)
        let parsed = try JSONSerialization.jsonObject(with: Data(ok.stdout.utf8)) as? [String: Any]
        #expect(parsed?["valid"] as? Bool == true)
        let bad = try Binaries.run(Binaries.schedctl, ["validate", "--json", "-"], input: "{\"jobs\": [")
        #expect(bad.status == 2)
        let error = (try JSONSerialization.jsonObject(with: Data(bad.stdout.utf8)) as? [String: Any])?["error"] as? [String: Any]
        #expect(error?["code"] as? String == "invalid_job_file")
    }

    @Test func usageErrorsExitWith2() throws {
        #expect(try Binaries.run(Binaries.schedctl, ["validate"]).status == 2)
        #expect(try Binaries.run(Binaries.schedctl, ["frobnicate"]).status == 2)
        #expect(try Binaries.run(Binaries.schedctl, ["validate", "/nonexistent/file.json"]).status == 2)
    }

    /// What is not a job file is named for what it is; /dev/zero would never end. A pipe is
    /// read (a shell's `<(generate-jobs)`).
    @Test func aDirectoryOrADeviceIsNamedForWhatItIs() throws {
        for (path, kind) in [("/tmp", "a directory"), ("/dev/zero", "a device"), ("/dev/null", "a device")] {
            for verb in ["validate", "apply"] {
                let result = try Binaries.run(Binaries.schedctl, [verb, path, "--socket", "/nonexistent/s.sock"])
                #expect(result.status == 2, "\(verb) \(path)")
                #expect(result.stderr == "schedctl: cannot read \(path): it is \(kind), not a job file\n", "\(verb) \(path)")
            }
        }
        let missing = try Binaries.run(Binaries.schedctl, ["validate", "/nonexistent/file.json"])
        #expect(missing.stderr == "schedctl: cannot read /nonexistent/file.json: No such file or directory\n")
        let piped = try Binaries.run(URL(fileURLWithPath: "/bin/sh"), ["-c", "cat \"$1\" | \"$0\" validate /dev/stdin", Binaries.schedctl.path, Self.example])
        #expect(piped.status == 0 && piped.stdout.contains("valid, 6 jobs"), "\(piped.stderr)")
    }

    /// A --socket that names a file or a directory, no socket, is said to be one (the connection is
    /// refused, which read as "start schedd").
    @Test func aSocketPathThatIsAFileIsNamedForWhatItIs() throws {
        let scratch = try Scratch()
        let file = try scratch.write("jobs.json", "{}")
        let result = try Binaries.run(Binaries.schedctl, ["--socket", file, "list"])
        #expect(result.status == 3)
        #expect(result.stderr == "schedctl: \(file) is a regular file, not schedd's socket: point --socket / SCHEDD_SOCKET at its socket\n", "\(result.stderr)")
        // A directory: said so, not a complaint about its parent's mode; with the socket in it
        // named when there is one.
        let directory = scratch.path("run")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        let bare = try Binaries.run(Binaries.schedctl, ["--socket", directory, "status"])
        #expect(bare.status == 3)
        #expect(bare.stderr == "schedctl: \(directory) is a directory, not schedd's socket: point --socket / SCHEDD_SOCKET at its socket\n", "\(bare.stderr)")
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        #expect(UnixSocketAddress.with(directory + "/schedd.sock") { bind(fd, $0, $1) } == 0)
        let hinted = try Binaries.run(Binaries.schedctl, ["--socket", directory, "status"])
        #expect(hinted.stderr.hasSuffix("at its socket (\(directory)/schedd.sock is one)\n"), "\(hinted.stderr)")
    }

    /// An empty job name is refused before any request: in a path it vanished (`/v1/jobs//run`).
    @Test func anEmptyJobNameIsAUsageError() throws {
        for args in [["show", ""], ["run", ""], ["pause", ""], ["cancel", ""], ["logs", ""], ["history", ""], ["events", "--job", ""]] {
            let result = try Binaries.run(Binaries.schedctl, args + ["--socket", "/nonexistent/s.sock"])
            #expect(result.status == 2, "\(args)")
            #expect(result.stderr.contains("the job name is empty"), "\(args): \(result.stderr)")
        }
    }

    @Test func everyVerbHasHelp() throws {
        for verb in ["status", "list", "show", "apply", "validate", "next", "export", "remove", "run", "cancel",
                     "pause", "resume", "history", "logs", "events", "reload"] {
            let result = try Binaries.run(Binaries.schedctl, [verb, "--help"])
            #expect(result.status == 0, "\(verb)")
            #expect(result.stdout.contains("USAGE: schedctl \(verb)"), "\(verb)")
        }
    }
}
