import Foundation
import SchedulerAPI
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive `flock` on `DATABASE.lock`, held for the daemon's life, so that a second
/// daemon on the same database refuses to start instead of running every job twice.
final class DatabaseLock: Sendable {
    private let fd: Int32

    init(databasePath: String) throws(APIError) {
        let path = databasePath + ".lock"
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                     attributes: [.posixPermissions: 0o750])
        }
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
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
}
