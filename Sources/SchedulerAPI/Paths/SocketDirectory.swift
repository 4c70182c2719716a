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

    /// Why the socket's directory keeps this process's user from reaching the socket (it may
    /// not be searched: a `RuntimeDirectoryMode=0750` of root's, say), whatever the socket
    /// allows; nil when it does not. For schedctl, after a connection was refused.
    public static func clientKeptOut(socketPath: String) -> String? {
        guard !socketPath.hasPrefix("@") else { return nil }
        let directory = directory(of: socketPath)
        guard access(directory, X_OK) != 0, errno == EACCES else { return nil }
        var about = ""
        var info = stat()
        if stat(directory, &info) == 0 {
            let owner = getpwuid(info.st_uid).map { String(cString: $0.pointee.pw_name) } ?? String(info.st_uid)
            let group = getgrgid(info.st_gid).map { String(cString: $0.pointee.gr_name) } ?? String(info.st_gid)
            about = " (mode \(octal(info.st_mode)), owner \(owner), group \(group))"
        }
        return "permission denied on schedd's socket \(socketPath): its directory \(directory)\(about) does not let your user (uid \(getuid())) through, "
            + "whatever the socket allows; an administrator makes it searchable (chmod 755 \(directory); under systemd, RuntimeDirectoryMode=0755 in schedd's unit): "
            + "the socket's own mode and schedd still decide who may use it"
    }

    /// The mode and group of the socket's directory, which decide who may search it to reach
    /// the socket; nil for an abstract socket or one whose directory cannot be read.
    public static func searchAttributes(socketPath: String) -> (mode: mode_t, gid: gid_t)? {
        guard !socketPath.hasPrefix("@") else { return nil }
        var info = stat()
        guard stat(directory(of: socketPath), &info) == 0 else { return nil }
        return (info.st_mode & 0o7777, info.st_gid)
    }

    /// The directory a socket at `path` is in ("." for a bare name).
    public static func directory(of path: String) -> String {
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

    public static func octal(_ mode: mode_t) -> String {
        let bits = Int(mode & 0o7777)
        return "0" + String(bits, radix: 8)
    }
}
