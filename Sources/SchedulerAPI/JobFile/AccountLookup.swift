#if canImport(Glibc)
import Glibc
private typealias GroupEntry = Glibc.group
#elseif canImport(Darwin)
import Darwin
private typealias GroupEntry = Darwin.group
#endif

/// Look-ups in the account database with the reentrant calls: validation runs on many threads
/// at once (concurrent requests, tests), and getpwnam's and getgrnam's static buffers would be
/// shared between them.
enum AccountLookup {
    struct User {
        var uid: uid_t
        var gid: gid_t
        var name: String
    }

    /// A user by name or uid.
    static func user(_ nameOrUID: String) -> User? {
        withBuffer { buffer in
            var entry = passwd()
            var result: UnsafeMutablePointer<passwd>?
            let status = if let uid = UInt32(nameOrUID) {
                getpwuid_r(uid, &entry, buffer.baseAddress!, buffer.count, &result)
            } else {
                getpwnam_r(nameOrUID, &entry, buffer.baseAddress!, buffer.count, &result)
            }
            if status == ERANGE { return .tooSmall }
            guard status == 0, result != nil else { return .done(nil) }
            return .done(User(uid: entry.pw_uid, gid: entry.pw_gid, name: String(cString: entry.pw_name)))
        }
    }

    /// A group's gid by name or gid.
    static func group(_ nameOrGID: String) -> gid_t? {
        withBuffer { buffer in
            var entry = GroupEntry()
            var result: UnsafeMutablePointer<GroupEntry>?
            let status = if let gid = UInt32(nameOrGID) {
                getgrgid_r(gid, &entry, buffer.baseAddress!, buffer.count, &result)
            } else {
                getgrnam_r(nameOrGID, &entry, buffer.baseAddress!, buffer.count, &result)
            }
            if status == ERANGE { return .tooSmall }
            guard status == 0, result != nil else { return .done(nil) }
            return .done(entry.gr_gid)
        }
    }

    private enum Attempt<T> {
        case done(T?)
        case tooSmall
    }

    /// Calls `body` with a buffer, larger each time it says the buffer is too small.
    private static func withBuffer<T>(_ body: (UnsafeMutableBufferPointer<CChar>) -> Attempt<T>) -> T? {
        var size = 4096
        while size <= 1 << 22 {
            var buffer = [CChar](repeating: 0, count: size)
            let attempt = buffer.withUnsafeMutableBufferPointer { body($0) }
            switch attempt {
            case .done(let value): return value
            case .tooSmall: size *= 4
            }
        }
        return nil
    }
}
