import Foundation
import Scheduler
import SchedulerAPI
#if canImport(Glibc)
import Glibc
#endif

/// The release `schedd` started by a scenario on a temporary database and socket; stopped
/// (SIGTERM, then SIGKILL) by `stop()`.
final class BenchDaemon {
    /// Where the release binaries are: next to this program.
    static let binDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    static var schedd: String { binDirectory.appendingPathComponent("schedd").path }
    static var schedctl: String { binDirectory.appendingPathComponent("schedctl").path }

    static func requireBinaries() throws {
        for path in [schedd, schedctl] where !FileManager.default.isExecutableFile(atPath: path) {
            throw BenchError("\(path) is missing: build everything first with `swift build -c release --static-swift-stdlib`")
        }
    }

    let directory: URL
    let process = Process()
    var socket: String { directory.appendingPathComponent("s.sock").path }
    var database: String { directory.appendingPathComponent("bench.db").path }
    /// Seconds from the spawn until the socket answered `GET /v1/status`.
    private(set) var startToReady: Double = 0

    init(directory: URL? = nil) throws {
        self.directory = directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("schedd-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
    }

    func start(_ arguments: [String] = []) throws {
        let arguments = ["--db", database, "--socket", socket, "--log-level", "warning"] + arguments
        // The unit's limit on open files (schedd raises its own and gives its runs the soft one).
        if FileManager.default.isExecutableFile(atPath: Self.prlimit) {
            process.executableURL = URL(fileURLWithPath: Self.prlimit)
            process.arguments = ["--nofile=\(Self.unitFileLimit.soft):\(Self.hardFileLimit)", "--", Self.schedd] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: Self.schedd)
            process.arguments = arguments
        }
        // Kept for the error of a daemon that does not come up (the log level is warning).
        let log = directory.appendingPathComponent("schedd.log").path
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: log)
        // The environment contrib/systemd/schedd.service gives the daemon.
        var environment = ProcessInfo.processInfo.environment
        environment["MALLOC_ARENA_MAX"] = "1"
        process.environment = environment
        let began = ContinuousClock.now
        try process.run()
        while true {
            if let reply = HTTP.get(socket, "/v1/status"), reply.hasPrefix("HTTP/1.1 200") { break }
            guard process.isRunning else {
                let said = (try? String(contentsOfFile: log, encoding: .utf8)).map { String($0.suffix(2000)) } ?? ""
                throw BenchError("schedd exited with \(process.terminationStatus) before it was ready: \(said)")
            }
            guard ContinuousClock.now - began < .seconds(120) else { throw BenchError("schedd did not answer within 120 s") }
            usleep(1_000)
        }
        startToReady = (ContinuousClock.now - began).seconds
    }

    var pid: Int32 { process.processIdentifier }

    static let prlimit = "/usr/bin/prlimit"
    /// `LimitNOFILE=` of contrib/systemd/schedd.service.
    static let unitFileLimit = (soft: UInt64(1024), hard: UInt64(524_288))

    /// The unit's hard limit, or this process's own where that is lower: raising a hard limit
    /// needs a privilege a container may not have (and no scenario needs that many).
    static var hardFileLimit: UInt64 { min(unitFileLimit.hard, OpenFileLimit.current?.hard ?? unitFileLimit.hard) }

    /// For an engine embedded in the benchmark: its soft limit raised to the hard one, as schedd
    /// raises its own, and the soft limit of the unit for its runs, as schedd gives them theirs.
    static func fileLimitAsShipped() -> UInt64 {
        _ = OpenFileLimit.raiseToHard()
        return unitFileLimit.soft
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = ContinuousClock.now + .seconds(30)
        while process.isRunning && ContinuousClock.now < deadline { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    func removeFiles() { try? FileManager.default.removeItem(at: directory) }

    deinit { stop() }
}

/// A failure that stops a scenario, with what to do about it.
struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A minimal blocking HTTP/1.1 client (one request per connection), so that the measured
/// clients cost as little as possible.
enum HTTP {
    /// The whole reply (status line, headers, body), or nil if the socket did not answer.
    static func get(_ socket: String, _ path: String) -> String? {
        guard let bytes = request(socket, "GET \(path) HTTP/1.1\r\nHost: schedd\r\nConnection: close\r\n\r\n") else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func request(_ socket: String, _ text: String) -> [UInt8]? {
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        guard exchange(socket, text, buffer: &buffer, onData: { reply.append(contentsOf: $0) }) else { return nil }
        return reply
    }

    /// Sends `text` and reads the reply to its end through `buffer`, handing each read to
    /// `onData`; false if the socket did not answer.
    static func exchange(_ socket: String, _ text: String, buffer: inout [UInt8], onData: (ArraySlice<UInt8>) -> Void) -> Bool {
        let fd = UnixSocketAddress.connectStream(socket)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let out = Array(text.utf8)
        guard out.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == out.count else { return false }
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            onData(buffer[..<n])
        }
        return true
    }
}

/// Runs a program to its end with posix_spawn and waitpid (Foundation's `Process` polls for
/// the exit, which would add tens of milliseconds to a whole-process timing).
enum Spawn {
    static func run(_ executable: String, _ arguments: [String]) -> Int32 {
        guard let pid = start(executable, arguments) else { return -1 }
        return wait(pid)
    }

    /// Starts a program, its stdout and stderr to /dev/null; its pid.
    static func start(_ executable: String, _ arguments: [String]) -> pid_t? {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        // The calling thread (the cooperative pool's, or Dispatch's) blocks signals, and a
        // spawned program inherits that mask: supervisord then never saw the SIGTERM that stops
        // it, and the benchmark waited for it for ever.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        guard posix_spawn(&pid, executable, &actions, &attributes, argv, environ) == 0 else { return nil }
        return pid
    }

    /// Waits for a started program's end; its wait status.
    static func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return status
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// Percentiles of a sample (nearest rank).
struct Percentiles {
    let sorted: [Double]
    init(_ values: [Double]) { sorted = values.sorted() }
    func at(_ p: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        return sorted[Swift.min(sorted.count - 1, Swift.max(0, Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1))]
    }
    var max: Double { sorted.last ?? .nan }
}
