import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `mkdir -p` with the system's words for what failed ("Not a directory"), which Foundation's
/// `createDirectory` hides behind "The operation could not be completed".
public enum DirectoryCreation {
    /// Creates `path` and the directories missing above it, each with `mode` (whatever the
    /// umask); those already there are left as they are. Returns why it failed (after the
    /// directory that could not be made, when that is not `path`), or nil.
    public static func make(_ path: String, mode: mode_t) -> String? {
        guard let (failed, code) = makeMissing(path, mode: mode) else { return nil }
        let why = String(cString: strerror(code))
        return failed == path ? why : "\(failed): \(why)"
    }

    private static func makeMissing(_ path: String, mode: mode_t) -> (String, Int32)? {
        var info = stat()
        if stat(path, &info) == 0 { return info.st_mode & S_IFMT == S_IFDIR ? nil : (path, ENOTDIR) }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty, parent != path, let failed = makeMissing(parent, mode: mode) { return failed }
        if mkdir(path, mode) != 0 {
            let code = errno
            if code == EEXIST, stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR { return nil }
            return (path, code)
        }
        return chmod(path, mode) == 0 ? nil : (path, errno)
    }
}
