import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Throwaway local accounts for access tests (the tests run as root in CI): a group and users
/// made with `groupadd`/`useradd`, removed when released.
final class TestAccounts {
    struct User {
        var name: String
        var uid: uid_t
        var gid: gid_t
    }

    let group: String
    private(set) var users: [User] = []

    static var available: Bool {
        geteuid() == 0 && ["/usr/sbin/useradd", "/usr/sbin/groupadd", "/usr/bin/setpriv"].allSatisfy {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    /// A group named after the test run; `add` makes users in it or outside it.
    init() throws {
        group = "sdg" + String(UInt32.random(in: 0...UInt32.max), radix: 36)
        try Self.tool("/usr/sbin/groupadd", [group])
    }

    /// A user with a group of its own, in `self.group` when `member`.
    func add(member: Bool) throws -> User {
        let name = "sdu" + String(UInt32.random(in: 0...UInt32.max), radix: 36)
        var arguments = ["--no-create-home", "--user-group", "--shell", "/bin/sh", "--home-dir", "/nonexistent"]
        if member { arguments += ["--groups", group] }
        try Self.tool("/usr/sbin/useradd", arguments + [name])
        guard let entry = getpwnam(name) else { throw POSIXError(.ENOENT) }
        let user = User(name: name, uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid)
        users.append(user)
        return user
    }

    /// Runs `schedctl` as `user` (their uid, primary group and groups), with `arguments`.
    func schedctl(as user: User, socket: String, _ arguments: [String], input: String? = nil) throws -> Binaries.Result {
        try Binaries.run(URL(fileURLWithPath: "/usr/bin/setpriv"),
                         ["--reuid=\(user.uid)", "--regid=\(user.gid)", "--init-groups", Binaries.schedctl.path, "--socket", socket] + arguments,
                         input: input)
    }

    static func tool(_ path: String, _ arguments: [String]) throws {
        let result = try Binaries.run(URL(fileURLWithPath: path), arguments)
        guard result.status == 0 else {
            throw NSError(domain: "TestAccounts", code: Int(result.status), userInfo: [NSLocalizedDescriptionKey: "\(path) \(arguments): \(result.stderr)"])
        }
    }

    deinit {
        for user in users { _ = try? Binaries.run(URL(fileURLWithPath: "/usr/sbin/userdel"), [user.name]) }
        _ = try? Binaries.run(URL(fileURLWithPath: "/usr/sbin/groupdel"), [group])
    }
}
