import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A throwaway PostgreSQL server for tests: a new cluster under a temporary folder, listening
/// only on a Unix socket there, fsync off; `stop()` stops it and deletes the folder.
///
/// Started with Debian's binaries (`/usr/lib/postgresql/N/bin`, `.ci/run` installs them). As
/// root, initdb and the server run as the `postgres` account (they refuse root).
public final class PostgresServer: Sendable {
    public let directory: String
    public var socketDirectory: String { directory + "/sock" }
    let binaries: String
    let asPostgres: Bool
    private let counter = Counter()

    /// The server of the suite being run (`.postgres`), when one could be started.
    @TaskLocal public static var current: PostgresServer?

    /// The folder of Debian's PostgreSQL binaries, the newest version; nil without them.
    public static let binaryDirectory: String? = {
        let base = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []).compactMap(Int.init).sorted()
        for version in versions.reversed() where FileManager.default.isExecutableFile(atPath: "\(base)/\(version)/bin/initdb") {
            return "\(base)/\(version)/bin"
        }
        return nil
    }()

    /// Why a server cannot be started here, or nil when it can.
    public static let unavailableReason: String? = {
        if binaryDirectory == nil { return "PostgreSQL's server binaries are not installed (/usr/lib/postgresql/N/bin; Debian's postgresql package)" }
        if geteuid() == 0 && postgresAccount == nil { return "there is no postgres account to run the server as" }
        return nil
    }()

    /// The `postgres` account's uid and gid. With getpwnam_r: other tests look accounts up on
    /// other threads, and getpwnam's static buffer would be shared with them.
    static let postgresAccount: (uid: uid_t, gid: gid_t)? = {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        guard getpwnam_r("postgres", &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return (entry.pw_uid, entry.pw_gid)
    }()

    /// Starts a new cluster. Blocks for about a second: call it off the cooperative pool
    /// (`start()` does).
    public init() throws {
        guard let binaries = Self.binaryDirectory else { throw HarnessError("PostgreSQL is not installed") }
        self.binaries = binaries
        asPostgres = geteuid() == 0
        // Short: the socket's path must stay under 107 bytes.
        var template = Array("/tmp/pg.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw HarnessError("mkdtemp failed") }
        directory = String(cString: made)
        chmod(directory, 0o755)
        mkdir(directory + "/sock", 0o755)
        if asPostgres, let account = Self.postgresAccount {
            chown(directory, account.uid, account.gid)
            chown(directory + "/sock", account.uid, account.gid)
        }
        do {
            try run("initdb", ["-D", directory + "/data", "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
            try run("pg_ctl", ["-D", directory + "/data", "-l", directory + "/server.log", "-w", "-t", "30", "-o",
                               "-k \(directory)/sock -c listen_addresses='' -c max_connections=300 -c fsync=off -c synchronous_commit=off",
                               "start"])
        } catch {
            let log = (try? String(contentsOfFile: directory + "/server.log", encoding: .utf8)) ?? ""
            try? FileManager.default.removeItem(atPath: directory)
            throw HarnessError("\(error)\n\(log)")
        }
    }

    /// Runs `body` with a new server as `current` (nil where none can be started here: the
    /// tests that need one are skipped, saying why), then stops it and deletes its folder.
    /// The suites' `.postgres` trait calls this.
    public static func withServer(_ body: () async throws -> Void) async throws {
        guard unavailableReason == nil else { return try await body() }
        let server = try await start()
        do {
            try await $current.withValue(server) { try await body() }
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    /// Starts a cluster on a thread of its own.
    public static func start() async throws -> PostgresServer {
        try await offPool { try PostgresServer() }
    }

    /// Stops the server and deletes its folder.
    public func stop() {
        _ = try? run("pg_ctl", ["-D", directory + "/data", "-m", "immediate", "-w", "-t", "30", "stop"])
        try? FileManager.default.removeItem(atPath: directory)
    }

    public func stop() async {
        await Self.offPool { self.stop() }
    }

    /// Sends `signal` to the server and every process of it (SIGSTOP freezes it whole: its
    /// connections stay open and answer nothing, as a server cut off or frozen does).
    public func signalAll(_ signal: Int32) async throws {
        let directory = self.directory
        try await Self.offPool {
            let pidFile = try String(contentsOfFile: directory + "/data/postmaster.pid", encoding: .utf8)
            guard let first = pidFile.split(separator: "\n").first, let postmaster = pid_t(first) else {
                throw HarnessError("no postmaster pid in \(directory)/data/postmaster.pid")
            }
            var pids = [postmaster]
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
                guard let pid = pid_t(entry),
                      let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                      let close = stat.lastIndex(of: ")") else { continue }
                // After "pid (comm) state ": the parent's pid.
                let fields = stat[stat.index(after: close)...].split(separator: " ")
                if fields.count > 1, pid_t(fields[1]) == postmaster { pids.append(pid) }
            }
            for pid in pids { kill(pid, signal) }
        }
    }

    /// A new, empty database's URL (each test its own).
    public func newDatabase() async throws -> String {
        let name = "t\(counter.next())_\(UInt32.random(in: 0...UInt32.max))"
        try await Self.offPool { try self.createDatabase(name) }
        return url(database: name)
    }

    /// The same, blocking (for the synchronous integration tests).
    public func newDatabaseNow() throws -> String {
        let name = "t\(counter.next())_\(UInt32.random(in: 0...UInt32.max))"
        try createDatabase(name)
        return url(database: name)
    }

    public func url(database: String) -> String {
        "postgresql://postgres@/\(database)?host=\(socketDirectory)"
    }

    /// Runs SQL with psql and returns what it printed (unaligned, tuples only). Blocking.
    public func psql(_ database: String, _ sql: String) throws -> String {
        try run("psql", ["-h", socketDirectory, "-U", "postgres", "-d", database, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func createDatabase(_ name: String) throws {
        try run("createdb", ["-h", socketDirectory, "-U", "postgres", name])
    }

    /// Runs one of the server's programs (as `postgres` when we are root) and returns its output.
    @discardableResult
    func run(_ program: String, _ arguments: [String]) throws -> String {
        // From "/", away from the scratch folders the tests delete (the postgres account cannot
        // read them).
        let argv = ["/usr/bin/env", "-C", "/"] + (asPostgres ? ["/usr/sbin/runuser", "-u", "postgres", "--"] : [])
            + ["\(binaries)/\(program)"] + arguments
        // Output to a file, not a pipe: the server pg_ctl starts inherits the descriptor and
        // would hold a pipe open for as long as it runs. posix_spawn and waitpid rather than
        // Foundation's Process, whose exit watch missed pg_ctl's exit here.
        let outputPath = "/tmp/pg-harness-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        defer { unlink(outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var pid: pid_t = 0
        let cArguments = argv.map { strdup($0) } + [nil]
        defer { for argument in cArguments { free(argument) } }
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, cArguments, environ)
        guard spawned == 0 else { throw HarnessError("cannot run \(argv[0]): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        let exited = status & 0x7f == 0
        let code = (status >> 8) & 0xff
        guard exited && code == 0 else {
            throw HarnessError("\(program) \(arguments.joined(separator: " ")) ended with status \(status): \(text)")
        }
        return text
    }

    /// Runs blocking work on a thread of its own, never on the cooperative pool.
    public static func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try work() })
            }
        }
    }

    public static func offPool(_ work: @escaping @Sendable () -> Void) async {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                work()
                continuation.resume()
            }
        }
    }
}

public struct HarnessError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

private final class Counter: Sendable {
    private let value = Mutex(0)
    func next() -> Int { value.withLock { $0 += 1; return $0 } }
}
