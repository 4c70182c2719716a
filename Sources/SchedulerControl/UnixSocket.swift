#if canImport(Glibc)
import Glibc
#endif
import SchedulerAPI

/// Small blocking helpers on Unix socket paths, used once at start-up.
enum UnixSocket {
    /// Whether something accepts connections on `path`.
    static func isLive(_ path: String) -> Bool {
        let fd = UnixSocketAddress.connectStream(path)
        guard fd >= 0 else { return false }
        close(fd)
        return true
    }
}
