#if canImport(Glibc)
import Glibc
#endif

/// `sockaddr_un` for a path, the one place that fills it in (daemon, CLI, notifier, tests).
public enum UnixSocketAddress {
    /// Calls `body` with `path` as a socket address and its length, or returns nil when the path
    /// is too long. A leading `@` names an abstract socket (its name starts with a NUL byte).
    public static func with<T>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        let abstract = bytes.first == UInt8(ascii: "@")
        if abstract { bytes[0] = 0 }
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        // Abstract names are exactly their bytes; paths include their terminating NUL.
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1))
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }

    /// Why `path` cannot be a socket's address (it is longer than a `sockaddr_un` holds), or nil.
    public static func pathProblem(_ path: String) -> String? {
        let limit = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1
        let length = path.utf8.count
        guard length > limit else { return nil }
        return "the socket path \(path) is \(length) bytes long, and a Unix socket's path may have at most \(limit): choose a shorter one (--socket, SCHEDD_SOCKET)"
    }

    /// A new stream socket connected to `path`, or -1 with `errno` set.
    ///
    /// With `timeout`, a listener whose queue of connections is full (a daemon that is stopped
    /// or does not accept) fails the connect with `EAGAIN` after that long instead of blocking
    /// for ever; the timeout stays on the socket's sends. (Linux bounds a Unix stream
    /// connect by the socket's send timeout.)
    public static func connectStream(_ path: String, timeout: Duration? = nil) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return -1 }
        if let timeout {
            let (seconds, attoseconds) = timeout.components
            var limit = timeval(tv_sec: Int(max(seconds, 0)), tv_usec: Int(max(attoseconds, 0) / 1_000_000_000_000))
            if limit.tv_sec == 0 && limit.tv_usec == 0 { limit.tv_usec = 1 }
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        }
        guard let result = with(path, { connect(fd, $0, $1) }) else {
            close(fd)
            errno = ENAMETOOLONG
            return -1
        }
        guard result == 0 else {
            let saved = errno
            close(fd)
            errno = saved
            return -1
        }
        return fd
    }
}
