#if canImport(Glibc)
import Glibc
#endif
import SchedulerAPI

/// Small blocking helpers on Unix socket paths, used once at start-up.
enum UnixSocket {
    /// Whether something listens on `path`. A listener whose queue of connections stays full
    /// for 2 s (a daemon that is stopped) is live too: its socket must not be taken over.
    static func isLive(_ path: String) -> Bool {
        let fd = UnixSocketAddress.connectStream(path, timeout: .seconds(2))
        guard fd >= 0 else { return errno == EAGAIN }
        close(fd)
        return true
    }
}
