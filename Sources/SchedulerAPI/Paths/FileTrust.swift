#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whether a file that decides what schedd runs can be trusted: its job file (`--config`) and
/// its database, which holds the jobs. Whoever may write one, or replace it in its directory,
/// decides what schedd runs as its user (root, as a rule): the file and its directory must
/// belong to schedd's user or root, and others may not write them (a sticky directory, as
/// `/tmp`, lets others add files but not replace one). A schedd running as root also refuses a
/// job file its group may write, as cron and sshd's `StrictModes` do; one running as a user
/// allows its group, which is the user's own on systems with private groups (umask 002). A
/// database's group is its admins (root's equals already).
public enum FileTrust {
    public enum Kind: String, Sendable {
        case jobFile = "job file"
        case database = "database"
    }

    /// Why schedd, running as `uid`, must not use the file at `path`; nil when it may. A file
    /// not there yet (a first start) has only its directory looked at; one that cannot be read
    /// is left to its use to report.
    public static func problem(_ kind: Kind, path: String, uid: uid_t) -> String? {
        let strict: mode_t = uid == 0 && kind == .jobFile ? 0o022 : 0o002
        var file = stat()
        if stat(path, &file) == 0 {
            let what = "the \(kind.rawValue) \(path)"
            if file.st_uid != uid && file.st_uid != 0 {
                return "\(what) belongs to uid \(file.st_uid), not to schedd's user (uid \(uid)) or root: "
                    + "its owner could make schedd run anything; give it to schedd's user or root (chown)"
            }
            if file.st_mode & strict != 0 {
                return "\(what) may be written by \(SocketDirectory.writers(file.st_mode & strict)) (mode \(SocketDirectory.octal(file.st_mode))): "
                    + "they could make schedd run anything; chmod go-w it"
            }
        }
        let directory = SocketDirectory.directory(of: path)
        var parent = stat()
        guard stat(directory, &parent) == 0 else { return nil }
        if parent.st_uid != uid && parent.st_uid != 0 {
            return "the \(kind.rawValue)'s directory \(directory) belongs to uid \(parent.st_uid), not to schedd's user (uid \(uid)) or root: "
                + "its owner could replace the file; keep it in a directory of schedd's user or root"
        }
        if parent.st_mode & strict != 0 && parent.st_mode & mode_t(S_ISVTX) == 0 {
            return "the \(kind.rawValue)'s directory \(directory) may be written by \(SocketDirectory.writers(parent.st_mode & strict)) "
                + "(mode \(SocketDirectory.octal(parent.st_mode))): they could replace the file; chmod go-w the directory, or move the file"
        }
        return nil
    }
}
