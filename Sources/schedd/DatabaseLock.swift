import Foundation
import SchedulerAPI
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive `flock` on `DATABASE.lock`, held for the daemon's life, so that a second
/// daemon on the same database refuses to start instead of running every job twice.
final class DatabaseLock: Sendable {
    private let fd: Int32
    private let path: String
    /// Whether this lock made its file (there was none).
    private let created: Bool

    init(databasePath: String) throws(APIError) {
        let path = databasePath + ".lock"
        self.path = path
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty, let problem = DirectoryCreation.make(directory, mode: 0o750) {
            throw APIError(.databaseUnusable, "cannot create the database directory \(directory): \(problem)")
        }
        var fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
        created = fd >= 0
        if fd < 0 && errno == EEXIST { fd = open(path, O_RDWR | O_CLOEXEC) }
        self.fd = fd
        guard fd >= 0 else {
            throw APIError(.databaseUnusable, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw APIError(.conflict, "another schedd is already using the database \(databasePath)")
        }
    }

    func release() {
        flock(fd, LOCK_UN)
        close(fd)
    }

    /// Removes the lock file this lock made, for a start refused before its database was made:
    /// nothing is left beside a database that does not exist. (Removed while still locked: a
    /// daemon that opened it meanwhile was refused, and the next one makes a new file.)
    func removeIfMade() {
        if created { unlink(path) }
    }
}
