import Scheduler
import Foundation
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// Who is on the other end of a Unix socket connection (`SO_PEERCRED`), and whether they may
/// use the control API: root, the daemon's own user, and members of the socket group.
struct PeerCredentials {
    var pid: pid_t
    var uid: uid_t
    var gid: gid_t

    static func of(_ channel: any Channel) async -> PeerCredentials? {
        try? await read(channel)?.get()
    }

    /// `SO_PEERCRED` of a Unix socket channel; complete at once when asked on its event loop.
    static func read(_ channel: any Channel) -> EventLoopFuture<PeerCredentials>? {
        guard let provider = channel as? any SocketOptionProvider else { return nil }
        let credentials: EventLoopFuture<KernelUcred> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        return credentials.map { PeerCredentials(pid: $0.pid, uid: $0.uid, gid: $0.gid) }
    }

    /// `struct ucred` of <sys/socket.h> (pid, uid, gid), which Glibc's module does not export
    /// without _GNU_SOURCE; same layout.
    struct KernelUcred {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    /// Whether `uid`/`gid` may talk to a daemon running as `daemonUID` with socket group
    /// `group` (nil: none).
    func isAllowed(daemonUID: uid_t, group: gid_t?) async -> Bool {
        if isPlainlyAllowed(daemonUID: daemonUID, group: group) { return true }
        guard let group else { return false }
        return await PeerAccounts.shared.account(uid: uid).groups.contains(group)
    }

    /// Allowed without asking the account database (which may block): root, the daemon's user,
    /// or the socket group as the peer's primary group.
    func isPlainlyAllowed(daemonUID: uid_t, group: gid_t?) -> Bool {
        uid == 0 || uid == daemonUID || (group.map { $0 == gid } ?? false)
    }
}
