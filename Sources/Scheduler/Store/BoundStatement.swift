import GRDB
import GRDBSQLite

/// A prepared statement bound and stepped through SQLite's C API. GRDB's arguments make a
/// `DatabaseValue` of each argument before binding it: for the start and the end row that
/// every run writes, that was most of what the writer thread spent on them. Used on the
/// writer's own thread, inside one of its accesses, like the `Statement` it wraps.
struct BoundStatement {
    private let handle: SQLiteStatement
    private let db: Database

    /// Resets `statement` and clears what it had bound.
    init(_ statement: Statement, _ db: Database) {
        handle = statement.sqliteStatement
        self.db = db
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    /// Parameters are numbered from 1, as in SQLite.
    func bind(_ index: Int32, _ value: String?) {
        guard let value else {
            sqlite3_bind_null(handle, index)
            return
        }
        // By its length in bytes (text may hold NUL characters: a run's output), and copied by
        // SQLite (SQLITE_TRANSIENT): the bytes live only for this call.
        // An empty buffer may have no address, which SQLite would bind as NULL.
        let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
        guard !value.isEmpty else {
            sqlite3_bind_text(handle, index, "", 0, transient)
            return
        }
        var text = value
        text.withUTF8 { bytes in
            _ = bytes.withMemoryRebound(to: CChar.self) { chars in
                sqlite3_bind_text(handle, index, chars.baseAddress, Int32(chars.count), transient)
            }
        }
    }

    func bind(_ index: Int32, _ value: Int64?) {
        guard let value else {
            sqlite3_bind_null(handle, index)
            return
        }
        sqlite3_bind_int64(handle, index, value)
    }

    func bind(_ index: Int32, _ value: Int32?) { bind(index, value.map(Int64.init)) }
    func bind(_ index: Int32, _ value: Int?) { bind(index, value.map(Int64.init)) }
    func bind(_ index: Int32, _ value: Bool) { sqlite3_bind_int64(handle, index, value ? 1 : 0) }

    /// Runs a statement that returns no rows, then resets it for its next use.
    func execute() throws {
        let code = sqlite3_step(handle)
        guard code == SQLITE_DONE else {
            let message = db.lastErrorMessage
            sqlite3_reset(handle)
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message)
        }
        sqlite3_reset(handle)
    }
}
