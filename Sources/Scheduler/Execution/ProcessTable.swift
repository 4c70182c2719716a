import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Reads Linux's `/proc` to find the processes of a run, including those that left the run's
/// session (`setsid`) or were orphaned by a double fork: every process schedd starts carries
/// `SCHEDD_INSTANCE` (the database's id) and `SCHEDD_RUN_ID` in its environment, and its
/// descendants inherit them.
///
/// These are small reads of kernel memory, not disk I/O; they are done in batches by
/// `ProcessSweeper`, never per output chunk.
enum ProcessTable {
    /// The marker a run's processes carry, as it appears in `/proc/PID/environ`.
    struct Marker: Hashable, Sendable {
        var instance: String
        var runID: Int64

        var entries: (String, String) { ("SCHEDD_INSTANCE=\(instance)", "SCHEDD_RUN_ID=\(runID)") }
    }

    /// Pids (other than schedd's own) whose environment carries one of `markers`.
    static func processes(carrying markers: Set<Marker>) -> [Marker: [pid_t]] {
        guard !markers.isEmpty else { return [:] }
        let byRun = Dictionary(markers.map { ($0.entries.1, $0) }, uniquingKeysWith: { a, _ in a })
        var found: [Marker: [pid_t]] = [:]
        let me = getpid()
        guard let dir = opendir("/proc") else { return [:] }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let pid = pid_t(name), pid != me, let environ = read("/proc/\(pid)/environ") else { continue }
            var runEntry: String?
            var instanceEntry: String?
            for variable in environ.split(separator: 0) {
                if variable.starts(with: "SCHEDD_RUN_ID=".utf8) { runEntry = String(decoding: variable, as: UTF8.self) }
                if variable.starts(with: "SCHEDD_INSTANCE=".utf8) { instanceEntry = String(decoding: variable, as: UTF8.self) }
            }
            if let runEntry, let marker = byRun[runEntry], instanceEntry == marker.entries.0, !isZombie(pid) {
                found[marker, default: []].append(pid)
            }
        }
        return found
    }

    /// Whether the process has exited but not been reaped yet (or is gone).
    static func isZombie(_ pid: pid_t) -> Bool {
        guard let stat = read("/proc/\(pid)/stat"), let close = stat.lastIndex(of: UInt8(ascii: ")")),
              close + 2 < stat.count else { return true }
        return stat[close + 2] == UInt8(ascii: "Z")
    }

    static func read(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, 4096) }
            if n <= 0 { break }
            out.append(contentsOf: buffer[..<n])
            if out.count > 1 << 20 { break }
        }
        return out
    }
}
