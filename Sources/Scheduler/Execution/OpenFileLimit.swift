#if canImport(Glibc)
import Glibc
#endif

/// The process's limit on open files (`RLIMIT_NOFILE`): what `schedd` raises for itself and
/// gives its runs back (`JobScheduler.Configuration.processFileLimit`).
public enum OpenFileLimit {
    /// The soft and hard limits now; nil if they cannot be read.
    public static var current: (soft: UInt64, hard: UInt64)? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        return (UInt64(limit.rlim_cur), UInt64(limit.rlim_max))
    }

    /// Raises the soft limit to the hard one. Every control connection and every run's pipes
    /// are descriptors; the usual soft limit of 1,024 would make a busy daemon refuse
    /// connections long before the hard limit (Go and systemd's own services raise it too, and
    /// give their children the one they started with). Returns the soft limit it started with
    /// when it raised it: what runs get back; nil when there was nothing to raise.
    public static func raiseToHard() -> UInt64? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return nil }
        let started = UInt64(limit.rlim_cur)
        limit.rlim_cur = limit.rlim_max
        return setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 ? started : nil
    }
}
