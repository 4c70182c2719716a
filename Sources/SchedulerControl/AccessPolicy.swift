import SchedulerAPI
#if canImport(Glibc)
import Glibc
#endif

/// Who may do what over the control socket, decided per connection from the peer's
/// credentials (`SO_PEERCRED`), never from anything the client says.
public struct AccessPolicy: Sendable, Equatable {
    /// Which peers, besides admins, are users.
    public enum Users: Sendable, Equatable {
        /// Nobody: only admins may connect (the default).
        case none
        /// Every local account.
        case all
        /// Members of this group.
        case group(gid_t)
    }

    /// What a peer may do.
    public enum Role: Sendable, Equatable {
        /// Everything: root, the daemon's own user, members of the admin group.
        case admin
        /// Their own jobs only (`OWNER/NAME`), which run as them.
        case user(name: String)
        /// Nothing (403).
        case refused
    }

    public var daemonUID: uid_t
    /// Members of this group are admins (`--admin-group`, or the deprecated `--socket-group`).
    public var adminGroup: gid_t?
    public var users: Users
    /// The most jobs a user may own (`--user-max-jobs`).
    public var userMaxJobs: Int
    /// `userMaxJobs` when not given.
    public static let defaultUserMaxJobs = 100

    public init(daemonUID: uid_t = getuid(), adminGroup: gid_t? = nil, users: Users = .none, userMaxJobs: Int = defaultUserMaxJobs) {
        self.daemonUID = daemonUID
        self.adminGroup = adminGroup
        self.users = users
        self.userMaxJobs = userMaxJobs
    }

    /// The role of a peer with `uid` and primary group `gid`, whose account (name and
    /// supplementary groups) `account` returns, nil when it has none. The account is asked for
    /// only when the credentials alone do not decide.
    func role(uid: uid_t, gid: gid_t, account: () async -> (name: String?, groups: [gid_t])) async -> Role {
        if isPlainlyAdmin(uid: uid, gid: gid) { return .admin }
        if adminGroup == nil && users == .none { return .refused }
        let (name, groups) = await account()
        if let adminGroup, groups.contains(adminGroup) { return .admin }
        // A user needs a name: their jobs are named after them and run as them.
        guard let name, JobOwner.isValidAccountName(name) else { return .refused }
        switch users {
        case .none: return .refused
        case .all: return .user(name: name)
        case let .group(group): return gid == group || groups.contains(group) ? .user(name: name) : .refused
        }
    }

    /// An admin by the credentials alone, without asking the account database (which may
    /// block): root, the daemon's user, or the admin group as the peer's primary group.
    func isPlainlyAdmin(uid: uid_t, gid: gid_t) -> Bool {
        uid == 0 || uid == daemonUID || (adminGroup.map { $0 == gid } ?? false)
    }

    /// The socket's mode: open to everyone when users are allowed (each connection is still
    /// checked), else to the owner and the admin group.
    var socketMode: mode_t { users == .none ? 0o660 : 0o666 }

    /// The mode of a socket directory schedd makes: others must be able to reach the socket
    /// when users are allowed; nobody but its owner may write it.
    public var directoryMode: mode_t { users == .none ? (adminGroup == nil ? 0o700 : 0o750) : 0o755 }

    /// Who the socket's directory, with `mode` and group `gid`, keeps from reaching the socket
    /// (they may not search it), whatever the socket allows: "the admin group", "users"; nil
    /// when it keeps no one out. A directory made beforehand (systemd's RuntimeDirectory=) may.
    func keptOut(byDirectoryMode mode: mode_t, gid: gid_t) -> String? {
        func searchable(by group: gid_t) -> Bool { mode & 0o001 != 0 || (gid == group && mode & 0o010 != 0) }
        var out: [String] = []
        if let adminGroup, !searchable(by: adminGroup) { out.append("the admin group") }
        switch users {
        case .none: break
        case .all: if mode & 0o001 == 0 { out.append("users") }
        case let .group(group): if !searchable(by: group) { out.append("users") }
        }
        return out.isEmpty ? nil : out.joined(separator: " and ")
    }
}
