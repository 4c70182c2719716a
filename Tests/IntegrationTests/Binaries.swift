import Foundation

/// Runs the real `schedd` and `schedctl` built next to the test bundle.
enum Binaries {
    static let directory: URL = {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
            Bundle.main.bundleURL,
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../.build/debug"),
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.appendingPathComponent("schedctl").path) }
            ?? candidates[0]
    }()

    static var schedd: URL { directory.appendingPathComponent("schedd") }
    static var schedctl: URL { directory.appendingPathComponent("schedctl") }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs a binary to completion, with `input` on its stdin.
    /// Past `timeout` the process is killed (a hung command fails its test instead of holding
    /// the whole run).
    static func run(_ binary: URL, _ arguments: [String], input: String? = nil, environment: [String: String]? = nil,
                    timeout: TimeInterval = 120) throws -> Result {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        if let environment { process.environment = environment }
        let out = Pipe(), err = Pipe(), inPipe = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = inPipe
        try process.run()
        let pid = process.processIdentifier
        let watchdog = DispatchWorkItem { kill(pid, SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
        defer { watchdog.cancel() }
        if let input { inPipe.fileHandleForWriting.write(Data(input.utf8)) }
        try inPipe.fileHandleForWriting.close()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
    }
}

/// A temporary directory for one test, removed at the end.
final class Scratch {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("schedd-it-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    func write(_ name: String, _ text: String) throws -> String {
        let p = path(name)
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }
    deinit { try? FileManager.default.removeItem(at: url) }
}

/// A `schedd` started in the background, its stderr going to a file; stopped (and killed if
/// need be) when released.
final class DaemonProcess {
    let process = Process()
    let logPath: String
    /// Each daemon gets its own control socket next to its log, unless the test names one.
    let socketPath: String

    /// `launcher`: a program and its arguments that exec `schedd` in its place (same pid),
    /// such as `prlimit --nofile=… --`.
    init(_ arguments: [String], log: String, environment: [String: String]? = nil, launcher: [String] = []) throws {
        logPath = log
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        var arguments = arguments
        if let i = arguments.firstIndex(of: "--socket"), i + 1 < arguments.count {
            socketPath = arguments[i + 1]
        } else {
            socketPath = log + ".sock"
            arguments += ["--socket", socketPath]
        }
        if let program = launcher.first {
            process.executableURL = URL(fileURLWithPath: program)
            process.arguments = launcher.dropFirst() + [Binaries.schedd.path] + arguments
        } else {
            process.executableURL = Binaries.schedd
            process.arguments = arguments
        }
        if let environment { process.environment = environment }
        process.standardError = FileHandle(forWritingAtPath: log)
        process.standardOutput = FileHandle.nullDevice
        try process.run()
    }

    var pid: pid_t { process.processIdentifier }

    /// Waits until the daemon is ready: its services run, so its signal handlers are in place
    /// (it logs "ready", in whichever log format).
    /// Up to 30 s: a debug build starting beside a dozen other daemons and PostgreSQL on two
    /// busy cores has taken over 10.
    func waitUntilStarted() -> Bool {
        eventually(timeout: 30) {
            let log = stderr()
            return log.contains("ready schedd.status=") || log.contains(#""msg":"ready""#)
        }
    }

    /// Sends SIGTERM and waits for the exit status (SIGKILL after `timeout`).
    func terminate(timeout: TimeInterval = 20) -> Int32 {
        if process.isRunning { process.terminate() }
        return waitForExit(timeout: timeout)
    }

    /// Waits for the exit status without signalling (SIGKILL after `timeout`): after a SIGTERM
    /// of its own, a test must not send the second one, which means "stop the runs now".
    func waitForExit(timeout: TimeInterval = 20) -> Int32 {
        stoppedByTest = true
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Kills the daemon with SIGKILL, as a crash would.
    /// Whether the test stopped it (or waited for it to stop): any other end is a crash.
    var stoppedByTest = false

    func crash() {
        stoppedByTest = true
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Everything the daemon wrote to stderr so far.
    func stderr() -> String {
        (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// Waits until `condition` holds, polling; false on timeout.
func eventually(timeout: TimeInterval = 10, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        usleep(50_000)
    }
    return try condition()
}

/// A figure of `/proc/PID/status` in KiB (`VmHWM`, `RssAnon`, …); nil when it cannot be read.
func procStatusKiB(_ pid: pid_t, _ field: String) -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }) else { return nil }
    return line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) }
}

/// Runs SQL against a database with the system's sqlite3 library through the sqlite3 CLI when
/// present, the way a user would.
func sqlite(_ db: String, _ sql: String) throws -> String {
    try Binaries.run(URL(fileURLWithPath: "/usr/bin/sqlite3"), [db, sql]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}
