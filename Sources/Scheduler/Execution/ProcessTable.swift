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
    ///
    /// Every process's environment is read, once per pass for all the runs that wait, into one
    /// reused buffer, and looked through in place: most processes are not schedd's, and under
    /// load a pass runs about once per run.
    static func processes(carrying markers: Set<Marker>) -> [Marker: [pid_t]] {
        guard !markers.isEmpty else { return [:] }
        let byRun = Dictionary(markers.map { ($0.entries.1, $0) }, uniquingKeysWith: { a, _ in a })
        var found: [Marker: [pid_t]] = [:]
        let me = getpid()
        guard let dir = opendir("/proc") else { return [:] }
        defer { closedir(dir) }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while let entry = readdir(dir) {
            guard let pid = pidName(entry), pid != me, let environ = read("/proc/\(pid)/environ", into: &buffer),
                  let runEntry = variable("SCHEDD_RUN_ID=", in: environ), let marker = byRun[runEntry],
                  variable("SCHEDD_INSTANCE=", in: environ) == marker.entries.0, !isZombie(pid) else { continue }
            found[marker, default: []].append(pid)
        }
        return found
    }

    /// The pid a `/proc` entry names, if it names one.
    static func pidName(_ entry: UnsafeMutablePointer<dirent>) -> pid_t? {
        withUnsafeBytes(of: entry.pointee.d_name) { raw -> pid_t? in
            var pid: pid_t = 0
            for byte in raw {
                if byte == 0 { break }
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), pid < 100_000_000 else { return nil }
                pid = pid * 10 + pid_t(byte - UInt8(ascii: "0"))
            }
            return pid > 0 ? pid : nil
        }
    }

    /// The whole `NAME=value` entry of an environment block (NUL-separated) that starts with
    /// `prefix` (`NAME=`), if there is one.
    static func variable(_ prefix: StaticString, in environ: ArraySlice<UInt8>) -> String? {
        let key = UnsafeRawBufferPointer(start: prefix.utf8Start, count: prefix.utf8CodeUnitCount)
        return environ.withUnsafeBytes { block -> String? in
            guard let base = block.baseAddress else { return nil }
            var start = 0
            while start < block.count {
                let end = block[start...].firstIndex(of: 0) ?? block.count
                if end - start >= key.count, memcmp(base + start, key.baseAddress!, key.count) == 0 {
                    return String(decoding: UnsafeRawBufferPointer(rebasing: block[start..<end]), as: UTF8.self)
                }
                start = end + 1
            }
            return nil
        }
    }

    /// Whether the process has exited but not been reaped yet (or is gone).
    static func isZombie(_ pid: pid_t) -> Bool {
        guard let stat = read("/proc/\(pid)/stat"), let close = stat.lastIndex(of: UInt8(ascii: ")")),
              close + 2 < stat.count else { return true }
        return stat[close + 2] == UInt8(ascii: "Z")
    }

    static func read(_ path: String) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        return read(path, into: &buffer).map(Array.init)
    }

    /// Reads a file into `buffer` (grown as needed, up to 1 MiB) and returns the part read.
    static func read(_ path: String, into buffer: inout [UInt8]) -> ArraySlice<UInt8>? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var count = 0
        while true {
            if count == buffer.count {
                guard buffer.count < 1 << 20 else { break }
                buffer.append(contentsOf: repeatElement(0, count: buffer.count))
            }
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + count, $0.count - count) }
            if n <= 0 { break }
            count += n
        }
        return buffer[..<count]
    }
}
