#if canImport(Glibc)
import Glibc
#endif

/// The account a process run becomes before it runs the job (a job with `user` or `group`):
/// its uid, its gid and its supplementary groups, as numbers looked up by schedd, so that the
/// process that switches to them reads no account database.
struct RunIdentity: Sendable, Equatable {
    var uid: uid_t
    var gid: gid_t
    /// With a `user` and no `group`, the user's groups (as login and cron give them); with a
    /// `group`, that group alone.
    var groups: [gid_t]

    /// The groups as `schedd-cgroup-exec` and `setpriv` take them: `1,2,3`.
    var groupList: String { groups.map(String.init).joined(separator: ",") }
}
