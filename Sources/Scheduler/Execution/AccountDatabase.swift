#if canImport(Glibc)
import Glibc
#endif

/// Users and groups from the account database, read with the reentrant `getpw*_r` and
/// `getgr*_r`: runs start concurrently, and `getpwnam` and its kin return one static buffer
/// that another thread's lookup overwrites (a run could get another user's home).
enum AccountDatabase {
    struct User {
        var uid: uid_t
        var gid: gid_t
        var name: String
        var home: String
        var shell: String
    }

    /// A user by name, or by number when `nameOrID` is all digits and such a user exists.
    static func user(_ nameOrID: String) -> User? {
        if let uid = UInt32(nameOrID), let user = user(uid: uid) { return user }
        return lookUp { getpwnam_r(nameOrID, &$0, $1, $2, &$3) }
    }

    static func user(uid: uid_t) -> User? {
        lookUp { getpwuid_r(uid, &$0, $1, $2, &$3) }
    }

    /// A group's id by name, or by number when `nameOrID` is all digits and such a group exists.
    static func groupID(_ nameOrID: String) -> gid_t? {
        if let gid = UInt32(nameOrID), let found = groupID(gid: gid) { return found }
        return lookUpGroup { getgrnam_r(nameOrID, &$0, $1, $2, &$3) }
    }

    static func groupID(gid: gid_t) -> gid_t? {
        lookUpGroup { getgrgid_r(gid, &$0, $1, $2, &$3) }
    }

    private static func lookUp(_ call: (inout passwd, UnsafeMutablePointer<CChar>, Int, inout UnsafeMutablePointer<passwd>?) -> Int32) -> User? {
        var size = 1024
        while size <= 1 << 20 {
            var entry = passwd()
            var result: UnsafeMutablePointer<passwd>?
            let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: size)
            defer { buffer.deallocate() }
            let status = call(&entry, buffer, size, &result)
            if status == ERANGE {
                size *= 4
                continue
            }
            guard status == 0, result != nil else { return nil }
            return User(uid: entry.pw_uid, gid: entry.pw_gid, name: String(cString: entry.pw_name),
                        home: String(cString: entry.pw_dir), shell: String(cString: entry.pw_shell))
        }
        return nil
    }

    private static func lookUpGroup(_ call: (inout group, UnsafeMutablePointer<CChar>, Int, inout UnsafeMutablePointer<group>?) -> Int32) -> gid_t? {
        var size = 1024
        while size <= 1 << 22 {
            var entry = group()
            var result: UnsafeMutablePointer<group>?
            let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: size)
            defer { buffer.deallocate() }
            let status = call(&entry, buffer, size, &result)
            if status == ERANGE {
                size *= 4
                continue
            }
            guard status == 0, result != nil else { return nil }
            return entry.gr_gid
        }
        return nil
    }
}
