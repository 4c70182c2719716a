#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The default database and socket paths (docs/operations.md), resolved the same way by `schedd` and
/// `schedctl` so that both find each other without flags when run as the same user.
public enum DefaultPaths {
    /// `$SCHEDD_DB`, else `$STATE_DIRECTORY/schedd.db` (systemd), else `/var/lib/schedd/schedd.db`
    /// for root, else `$XDG_STATE_HOME/schedd/schedd.db` (`~/.local/state/schedd/schedd.db`).
    public static func database(environment: [String: String], uid: UInt32 = getuid()) -> String {
        if let path = nonEmpty(environment["SCHEDD_DB"]) { return path }
        if let dirs = nonEmpty(environment["STATE_DIRECTORY"]) {
            return firstDirectory(dirs) + "/schedd.db"
        }
        if uid == 0 { return "/var/lib/schedd/schedd.db" }
        let state = nonEmpty(environment["XDG_STATE_HOME"]) ?? (home(environment, uid: uid) + "/.local/state")
        return state + "/schedd/schedd.db"
    }

    /// `$SCHEDD_SOCKET`, else `$RUNTIME_DIRECTORY/schedd.sock`, else `/run/schedd/schedd.sock` for
    /// root, else `$XDG_RUNTIME_DIR/schedd/schedd.sock`, else `/tmp/schedd-$UID/schedd.sock`.
    public static func socket(environment: [String: String], uid: UInt32 = getuid()) -> String {
        if let path = nonEmpty(environment["SCHEDD_SOCKET"]) { return path }
        if let dirs = nonEmpty(environment["RUNTIME_DIRECTORY"]) {
            return firstDirectory(dirs) + "/schedd.sock"
        }
        if uid == 0 { return "/run/schedd/schedd.sock" }
        if let runtime = nonEmpty(environment["XDG_RUNTIME_DIR"]) { return runtime + "/schedd/schedd.sock" }
        return "/tmp/schedd-\(uid)/schedd.sock"
    }

    private static func nonEmpty(_ value: String?) -> String? {
        guard let value, !value.isEmpty else { return nil }
        return value
    }

    /// systemd passes several directories separated by ':' when the unit lists several.
    private static func firstDirectory(_ list: String) -> String {
        String(list.split(separator: ":").first ?? Substring(list))
    }

    private static func home(_ environment: [String: String], uid: UInt32) -> String {
        if let home = nonEmpty(environment["HOME"]) { return home }
        if let pw = getpwuid(uid), let dir = pw.pointee.pw_dir { return String(cString: dir) }
        return "/tmp"
    }
}
