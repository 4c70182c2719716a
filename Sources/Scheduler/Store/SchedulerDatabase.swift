import Foundation
import GRDB
import GRDBSQLite
import SchedulerAPI

/// The SQLite database of schedd: opens it in WAL mode, migrates its schema forward, and hands
/// out the `JobStore` and `RunStore` that are the only code touching SQL.
///
/// GRDB runs every statement on its own serial queues, so the async methods of the stores never
/// block the cooperative thread pool.
public final class SchedulerDatabase: Sendable {
    let pool: DatabasePool
    public let path: String
    /// A random id made with the database: it marks the processes of this database's runs, so
    /// that two daemons on one machine never take each other's processes for their own.
    public let instanceID: String
    public let jobs: JobStore
    public let runs: RunStore
    /// Bumped by every write: replies cached against it are fresh while it stays the same.
    public let changes = ChangeCounter()

    /// Opens (creating when needed) the database at `path` and migrates it to the current
    /// schema. A database written by a newer schedd is refused, never modified.
    public init(path: String) throws(APIError) {
        self.path = path
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            if let problem = DirectoryCreation.make(directory, mode: 0o750) {
                throw APIError(.databaseUnusable, "cannot create the database directory \(directory): \(problem)")
            }
        }
        // Looked at read-only first: opening the pool turns the file to WAL mode, which would
        // change another program's database before the migration refuses it.
        var info = stat()
        let exists = stat(path, &info) == 0
        if exists, info.st_mode & S_IFMT == S_IFDIR {
            throw APIError(.databaseUnusable, "cannot open the database \(path): it is a directory; give --db a file's path")
        }
        if exists, info.st_size > 0 {
            var readOnly = Configuration()
            readOnly.readonly = true
            if let refusal = try? DatabaseQueue(path: path, configuration: readOnly).read({ db in try Schema.foreignDatabase(db) }) {
                throw refusal
            }
        }
        var configuration = Configuration()
        // A user reading history in sqlite3 may hold a lock for a while; wait rather than fail.
        configuration.busyMode = .timeout(30)
        configuration.label = "schedd"
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            try pool.barrierWriteWithoutTransaction { db in
                // Durable against power loss, not only against a crash of the daemon: a run's
                // record is reported only after it is on disk. Set here, on the writer, once
                // the pool is open: GRDB sets `synchronous = NORMAL` when it turns WAL on,
                // after `prepareDatabase`, and NORMAL syncs the WAL only at checkpoints.
                try db.execute(sql: "PRAGMA synchronous = FULL")
                try Schema.migrate(db)
                try Schema.checkShape(db)
            }
            instanceID = try pool.read { db in
                try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'instance_id'") ?? "unknown"
            }
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError(.databaseUnusable, "cannot open the database \(path): \(error)")
        }
        let committer = GroupCommitter(pool: pool, changes: changes)
        jobs = JobStore(pool: pool, committer: committer, changes: changes)
        runs = RunStore(pool: pool, committer: committer, changes: changes)
    }

    /// The schema version of the open database (`PRAGMA user_version`).
    public func schemaVersion() async throws -> Int {
        try await pool.read { db in try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0 }
    }

    /// `PRAGMA integrity_check`: "ok" when the file is sound.
    public func integrityCheck() async throws -> String {
        try await pool.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check").joined(separator: "\n") }
    }

    /// Lets SQLite drop its page caches and idle read connections, without waiting for it:
    /// what a large start read is not kept for an idle daemon.
    public func releaseMemoryEventually() {
        pool.releaseMemoryEventually()
    }

    /// Where the file at `path` stands against the one the daemon has open.
    public enum FilePlace: Sendable, Equatable {
        /// The open file is still at `path`.
        case inPlace
        /// Nothing is at `path` any more (`rm`): what is written now is lost at the next start.
        case deleted
        /// Another file is at `path` (`mv backup.db schedd.db`): reads may come from it while
        /// writes go to the open one, and the open one's WAL left at `path-wal` would be read
        /// into it.
        case replaced
    }

    /// Whether the database file was deleted or replaced since it was opened (SQLite's
    /// `SQLITE_FCNTL_HAS_MOVED`, asked on the writer's connection, off the cooperative pool).
    public func filePlace() async throws -> FilePlace {
        let path = path
        return try await pool.writeWithoutTransaction { db in
            var moved: Int32 = 0
            guard sqlite3_file_control(db.sqliteConnection, "main", SQLITE_FCNTL_HAS_MOVED, &moved) == SQLITE_OK, moved != 0 else {
                return .inPlace
            }
            var info = stat()
            return lstat(path, &info) == 0 ? .replaced : .deleted
        }
    }

    /// Keeps what a database whose file was deleted or replaced while open holds, then closes
    /// it: a consistent copy (`VACUUM INTO`) is written beside `path` first; once every
    /// connection is closed, the copy takes the place of a deleted file, and stays beside a
    /// replaced one (the file put there is left as it is: someone meant it). Returns the copy's
    /// path. When the copy cannot be written (a full disk), the database stays open, the
    /// partial copy is removed, and this throws: the caller may try again once there is room.
    public func closeDisplaced(_ place: FilePlace, at date: Date = Date()) async throws(APIError) -> String {
        let format = ISO8601DateFormatter()
        format.formatOptions = [.withYear, .withMonth, .withDay, .withTime, .withTimeZone]
        let stamp = format.string(from: date)
        let saved = path + ".saved-" + stamp
        do {
            // On the writer's queue, file calls included: not on the calling task's thread.
            try await pool.writeWithoutTransaction { db in
                var info = stat()
                let existed = lstat(saved, &info) == 0
                do {
                    try db.execute(sql: "VACUUM INTO ?", arguments: [saved])
                } catch {
                    // What VACUUM wrote before it failed; never a file that was there before.
                    if !existed { unlink(saved) }
                    throw error
                }
            }
        } catch {
            throw APIError(.databaseUnusable, "cannot save the open database to \(saved): \(error)")
        }
        // The checkpoint empties the WAL at `path-wal` when it is still this database's, so
        // that the file at `path` never reads it. On the writer's queue, as the copy: not on
        // the calling task's thread.
        _ = try? await pool.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
        try? pool.close()
        guard place == .deleted else { return saved }
        // link(2) rather than rename(2): a file that appeared at `path` meanwhile is kept.
        guard link(saved, path) == 0 else { return saved }
        unlink(saved)
        return path
    }

    /// Checkpoints the WAL into the main file and closes every connection.
    public func close() throws {
        // Readers first: the last connection to close removes the WAL and its index, and a
        // reader (read-only) cannot. (GRDB closes the writer first: a stop whose readers were
        // still open left `-wal` and `-shm` beside the database.)
        pool.releaseMemory()
        pool.writeWithoutTransaction { db in _ = try? db.checkpoint(.truncate) }
        try pool.close()
    }
}

/// Maps errors of the database layer to the module's public error.
package func storeError(_ error: any Error) -> APIError {
    if let apiError = error as? APIError { return apiError }
    return APIError(.internal, "database error: \(error)")
}
