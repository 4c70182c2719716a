import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Users and groups from the account database, read with the reentrant `getpw*_r` and
/// `getgr*_r`: runs start concurrently, and `getpwnam` and its kin return one static buffer
/// that another thread's lookup overwrites (a run could get another user's home).
package enum AccountDatabase {
    /// Look-ups may read files or ask NSS (LDAP, sssd) over the network: they run here, off
    /// the cooperative pool and the event loops.
    private static let queue = DispatchQueue(label: "schedd.accounts", attributes: .concurrent)

    /// Runs `lookUp` on the account queue.
    package static func off<T: Sendable>(_ lookUp: @escaping @Sendable () -> T) async -> T {
        await BlockingWork.run(on: queue, lookUp)
    }

    package struct User {
        package var uid: uid_t
        package var gid: gid_t
        package var name: String
        package var home: String
        package var shell: String
    }

    /// A user by name, or by number when `nameOrID` is all digits and such a user exists.
    package static func user(_ nameOrID: String) -> User? {
        if let uid = UInt32(nameOrID), let user = user(uid: uid) { return user }
        return lookUp({ getpwnam_r(nameOrID, &$0, $1, $2, &$3) }, read: User.init)
    }

    package static func user(uid: uid_t) -> User? {
        lookUp({ getpwuid_r(uid, &$0, $1, $2, &$3) }, read: User.init)
    }

    /// A group's id by name, or by number when `nameOrID` is all digits and such a group exists.
    package static func groupID(_ nameOrID: String) -> gid_t? {
        if let gid = UInt32(nameOrID), let found = groupID(gid: gid) { return found }
        return lookUp({ getgrnam_r(nameOrID, &$0, $1, $2, &$3) }, read: \.gr_gid)
    }

    package static func groupID(gid: gid_t) -> gid_t? {
        lookUp({ getgrgid_r(gid, &$0, $1, $2, &$3) }, read: \.gr_gid)
    }

    /// The groups a user belongs to, `gid` (their primary group) first, as login and cron give
    /// them (`initgroups`); `[gid]` alone when the list cannot be read.
    package static func groups(of user: String, gid: gid_t) -> [gid_t] {
        // The kernel's limit (NGROUPS_MAX) bounds the growth.
        var capacity: Int32 = 64
        while capacity <= 65_536 {
            var groups = [gid_t](repeating: 0, count: Int(capacity))
            var count = capacity
            if getgrouplist(user, gid, &groups, &count) >= 0 {
                return Array(groups.prefix(Int(count)))
            }
            // Too small: `count` says how many there are.
            guard count > capacity else { break }
            capacity = count
        }
        return [gid]
    }

    /// Runs a `get*_r` call with a buffer grown until the entry fits, and reads what is wanted
    /// from the entry while its strings (in the buffer) are still there.
    private static func lookUp<Entry: ZeroInitializable, Value>(
        _ call: (inout Entry, UnsafeMutablePointer<CChar>, Int, inout UnsafeMutablePointer<Entry>?) -> Int32,
        read: (Entry) -> Value
    ) -> Value? {
        var size = 1024
        while size <= 1 << 22 {
            var entry = Entry()
            var result: UnsafeMutablePointer<Entry>?
            let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: size)
            defer { buffer.deallocate() }
            let status = call(&entry, buffer, size, &result)
            if status == ERANGE {
                size *= 4
                continue
            }
            guard status == 0, result != nil else { return nil }
            return read(entry)
        }
        return nil
    }
}

extension AccountDatabase.User {
    init(_ entry: passwd) {
        self.init(uid: entry.pw_uid, gid: entry.pw_gid, name: String(cString: entry.pw_name),
                  home: String(cString: entry.pw_dir), shell: String(cString: entry.pw_shell))
    }
}

/// The C entries `lookUp` fills, which Swift imports with a zeroing initializer.
protocol ZeroInitializable { init() }
extension passwd: ZeroInitializable {}
extension group: ZeroInitializable {}
