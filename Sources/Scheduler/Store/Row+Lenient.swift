import Foundation
import GRDB
import SchedulerAPI

/// Reads of a column that never stop the daemon. SQLite lets anyone with `sqlite3` store any
/// type in any column (a blob in `runs.output`, 99999999999 in `exit_code`), and GRDB's typed
/// subscripts end the process when a value does not convert. These read the raw value and
/// convert what can be converted: text from a blob is decoded as UTF-8 (invalid bytes
/// replaced), a number out of its type's range reads as nil.
extension Row {
    func text(_ index: Int) -> String? {
        switch (self[index] as DatabaseValue).storage {
        case .null: return nil
        case let .string(text): return text
        case let .blob(data): return String(decoding: data, as: UTF8.self)
        case let .int64(n): return String(n)
        case let .double(x): return String(x)
        }
    }

    func integer(_ index: Int) -> Int64? {
        switch (self[index] as DatabaseValue).storage {
        case .null, .blob: return nil
        case let .int64(n): return n
        case let .double(x): return x.isFinite ? Int64(exactly: x.rounded(.towardZero)) : nil
        case let .string(text): return Int64(text)
        }
    }

    func int32(_ index: Int) -> Int32? { integer(index).flatMap { Int32(exactly: $0) } }

    func int(_ index: Int) -> Int? { integer(index).flatMap { Int(exactly: $0) } }

    func flag(_ index: Int) -> Bool? { integer(index).map { $0 != 0 } }

    func date(_ index: Int) -> Date? { text(index).flatMap(Timestamp.parse) }
}
