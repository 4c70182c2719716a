#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whether a control socket's directory can be trusted. Whoever may write a directory may
/// replace the socket in it with one of their own and answer the clients themselves, so
/// schedd serves, and schedctl connects, only through a directory that neither group nor
/// others may write (as tmux and ssh-agent insist).
public enum SocketDirectory {
    /// Why schedd, running as `uid`, must not serve `socketPath`: its directory is owned by
    /// someone other than schedd's user or root, or group or others may write it. Nil when it
    /// is fine, or for an abstract socket (`@name`), which has no directory.
    public static func daemonProblem(socketPath: String, uid: uid_t) -> String? {
        guard !socketPath.hasPrefix("@") else { return nil }
        let directory = directory(of: socketPath)
        var info = stat()
        guard stat(directory, &info) == 0 else { return "cannot read the socket directory \(directory): \(String(cString: strerror(errno)))" }
        if info.st_uid != uid && info.st_uid != 0 {
            return "the socket directory \(directory) belongs to uid \(info.st_uid), not to schedd's user (uid \(uid)) or root: "
                + "its owner could replace the socket; use a directory of your own (--socket)"
        }
        if info.st_mode & 0o022 != 0 {
            return "the socket directory \(directory) may be written by \(writers(info.st_mode)) (mode \(octal(info.st_mode))): "
                + "they could replace the socket; use a directory only its owner may write (chmod go-w, or --socket elsewhere)"
        }
        return nil
    }

    /// Why schedctl must not connect to `socketPath`: group or others may write its directory,
    /// or the socket's owner is not the directory's. Nil when it is fine, when the socket does
    /// not exist (the connection says so), or for an abstract socket.
    public static func clientProblem(socketPath: String) -> String? {
        guard !socketPath.hasPrefix("@") else { return nil }
        var socketInfo = stat()
        guard lstat(socketPath, &socketInfo) == 0 else { return nil }
        let directory = directory(of: socketPath)
        var info = stat()
        guard stat(directory, &info) == 0 else { return nil }
        if info.st_mode & 0o022 != 0 {
            return "refusing schedd's socket \(socketPath): its directory \(directory) may be written by \(writers(info.st_mode)) "
                + "(mode \(octal(info.st_mode))), who could have put a socket of their own there"
        }
        if socketInfo.st_uid != info.st_uid {
            return "refusing schedd's socket \(socketPath): it belongs to uid \(socketInfo.st_uid), its directory \(directory) "
                + "to uid \(info.st_uid); a socket made by schedd belongs to the directory's owner"
        }
        return nil
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let parent = String(path[..<slash])
        return parent.isEmpty ? "/" : parent
    }

    static func writers(_ mode: mode_t) -> String {
        switch (mode & 0o020 != 0, mode & 0o002 != 0) {
        case (true, true): return "its group and everyone else"
        case (true, false): return "its group"
        default: return "everyone"
        }
    }

    static func octal(_ mode: mode_t) -> String {
        let bits = Int(mode & 0o7777)
        return "0" + String(bits, radix: 8)
    }
}
