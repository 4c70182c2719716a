#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whether a job file the daemon applies (`--config`) can be trusted. Whoever may write it, or
/// replace it in its directory, decides what schedd runs as its user: the file and its
/// directory must belong to schedd's user or root, and others may not write them (a sticky
/// directory, as `/tmp`, lets others add files but not replace one). A schedd running as root
/// also refuses what a group may write, as cron and sshd's `StrictModes` do; one running as a
/// user allows its group, which is the user's own on systems with private groups (umask 002).
public enum JobFileTrust {
    /// Why schedd, running as `uid`, must not apply the file at `path`; nil when it may, or
    /// when the file cannot be read (reading it says why).
    public static func problem(path: String, uid: uid_t) -> String? {
        var file = stat()
        guard stat(path, &file) == 0 else { return nil }
        let strict: mode_t = uid == 0 ? 0o022 : 0o002
        if file.st_uid != uid && file.st_uid != 0 {
            return "the job file \(path) belongs to uid \(file.st_uid), not to schedd's user (uid \(uid)) or root: "
                + "its owner could make schedd run anything; give it to schedd's user or root (chown)"
        }
        if file.st_mode & strict != 0 {
            return "the job file \(path) may be written by \(SocketDirectory.writers(file.st_mode & strict)) (mode \(SocketDirectory.octal(file.st_mode))): "
                + "they could make schedd run anything; chmod go-w it"
        }
        let directory = SocketDirectory.directory(of: path)
        var parent = stat()
        guard stat(directory, &parent) == 0 else { return nil }
        if parent.st_uid != uid && parent.st_uid != 0 {
            return "the job file's directory \(directory) belongs to uid \(parent.st_uid), not to schedd's user (uid \(uid)) or root: "
                + "its owner could replace the file; keep the job file in a directory of schedd's user or root"
        }
        if parent.st_mode & strict != 0 && parent.st_mode & mode_t(S_ISVTX) == 0 {
            return "the job file's directory \(directory) may be written by \(SocketDirectory.writers(parent.st_mode & strict)) "
                + "(mode \(SocketDirectory.octal(parent.st_mode))): they could replace the file; chmod go-w the directory, or move the file"
        }
        return nil
    }
}
