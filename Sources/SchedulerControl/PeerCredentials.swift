import Scheduler
import Foundation
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// Who is on the other end of a Unix socket connection (`SO_PEERCRED`); `AccessPolicy`
/// decides what they may do.
struct PeerCredentials: Sendable {
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
}
