import Foundation
import SchedulerAPI
#if canImport(Glibc)
import Glibc
#endif

/// One cgroup (v2) per run, under schedd's own cgroup: the run's processes, however they
/// detach (`setsid`, a double fork, `env -i`), stay in it, so they are found in its
/// `cgroup.procs` and stopped with `cgroup.kill`, and its `cpu.stat` is the CPU time the run
/// used. Available where schedd may create cgroups below its own: systemd delegates its unit's
/// cgroup with `Delegate=yes`; outside systemd (a container, a shell as root) a writable
/// cgroup is enough.
///
/// Every call is a small read or write of cgroupfs (kernel memory, no disk); callers make them
/// off the cooperative pool (`ProcessSweeper`'s queue).
struct RunCgroups: Sendable {
    /// schedd's own cgroup, where the runs' cgroups are made.
    let base: String
    /// Names the runs of one database: two daemons in one cgroup never take each other's.
    let instance: String

    /// How runs are tracked, for `status`: the cgroup, or why not.
    enum Availability: Sendable {
        case available(RunCgroups)
        case unavailable(String)
    }

    /// Finds schedd's cgroup and checks that a run's cgroup can be made in it.
    static func detect(instance: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> Availability {
        guard let mount = cgroup2Mount() else { return .unavailable("no cgroup2 file system is mounted") }
        guard let own = ownCgroup() else { return .unavailable("/proc/self/cgroup names no cgroup2 group") }
        let base = own == "/" ? mount : mount + own
        // systemd owns the cgroups of its units unless the unit delegates its own to the service.
        if environment["INVOCATION_ID"] != nil && !isDelegated(base) {
            return .unavailable("the unit does not delegate its cgroup \(base) to schedd (Delegate=yes)")
        }
        let cgroups = RunCgroups(base: base, instance: instance)
        let probe = "\(base)/schedd-\(instance)-probe"
        guard mkdir(probe, 0o755) == 0 || errno == EEXIST else {
            return .unavailable("cannot create a cgroup in \(base): \(String(cString: strerror(errno)))")
        }
        defer { rmdir(probe) }
        guard access("\(probe)/cgroup.procs", W_OK) == 0 else {
            return .unavailable("cannot move processes into a cgroup in \(base): \(String(cString: strerror(errno)))")
        }
        return .available(cgroups)
    }

    /// The directory of a run's cgroup.
    func path(runID: Int64) -> String { "\(base)/schedd-\(instance)-\(runID)" }

    /// Makes a run's cgroup; returns the `cgroup.procs` a process writes itself into.
    func create(runID: Int64) throws(APIError) -> String {
        let dir = path(runID: runID)
        guard mkdir(dir, 0o755) == 0 || errno == EEXIST else {
            throw APIError(.internal, "cannot create the cgroup \(dir): \(String(cString: strerror(errno)))")
        }
        return "\(dir)/cgroup.procs"
    }

    /// The run's processes; empty when its cgroup is gone.
    ///
    /// Read with `ProcessTable.read`, not Foundation: `String(contentsOfFile:)` leaks the 4 KiB
    /// it reads into whenever a file that reports no size (as every cgroup file does) turns out
    /// empty, and an ended run's `cgroup.procs` is empty — 4 KiB lost per run.
    func processes(runID: Int64) -> [pid_t] {
        guard let bytes = ProcessTable.read("\(path(runID: runID))/cgroup.procs") else { return [] }
        return bytes.split(separator: UInt8(ascii: "\n")).compactMap { pid_t(String(decoding: $0, as: UTF8.self)) }
    }

    /// SIGKILL to every process of the run at once, those forked meanwhile too (Linux 5.14's
    /// `cgroup.kill`; before it, each process found).
    func killAll(runID: Int64) {
        let file = "\(path(runID: runID))/cgroup.kill"
        if write("1", to: file) { return }
        for pid in processes(runID: runID) { kill(pid, SIGKILL) }
    }

    /// The CPU time the run's processes used, living and dead, in milliseconds.
    func cpuMilliseconds(runID: Int64) -> Int64? {
        guard let bytes = ProcessTable.read("\(path(runID: runID))/cpu.stat") else { return nil }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix("usage_usec ") {
            return Int64(line.dropFirst("usage_usec ".count)).map { $0 / 1000 }
        }
        return nil
    }

    /// Removes an empty run cgroup; false while processes are left in it.
    @discardableResult
    func remove(runID: Int64) -> Bool {
        rmdir(path(runID: runID)) == 0 || errno == ENOENT
    }

    /// The runs whose cgroups are still there (a daemon that died left them).
    func leftoverRunIDs() -> [Int64] {
        let prefix = "schedd-\(instance)-"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: base) else { return [] }
        return names.compactMap { $0.hasPrefix(prefix) ? Int64($0.dropFirst(prefix.count)) : nil }
    }

    // MARK: - Finding the cgroup

    /// Where the cgroup2 hierarchy is mounted (`/sys/fs/cgroup`, or `/sys/fs/cgroup/unified`
    /// on a hybrid system).
    static func cgroup2Mount() -> String? {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            // "36 25 0:30 / /sys/fs/cgroup rw,… shared:9 - cgroup2 cgroup2 rw,…"
            let halves = line.components(separatedBy: " - ")
            guard halves.count == 2, halves[1].hasPrefix("cgroup2 ") else { continue }
            let fields = halves[0].split(separator: " ")
            if fields.count > 4 { return String(fields[4]) }
        }
        return nil
    }

    /// schedd's cgroup in the cgroup2 hierarchy ("0::/system.slice/schedd.service").
    static func ownCgroup() -> String? {
        guard let text = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("0::") {
            return String(line.dropFirst(3))
        }
        return nil
    }

    /// Whether systemd marked the cgroup delegated (`trusted.delegate`, or `user.delegate`
    /// for a user manager).
    static func isDelegated(_ path: String) -> Bool {
        // glibc's getxattr(2) wrapper; <sys/xattr.h> is not in Swift's Glibc module.
        typealias GetXattr = @convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeMutableRawPointer, Int) -> Int
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "getxattr") else { return false }
        let getxattr = unsafeBitCast(symbol, to: GetXattr.self)
        for name in ["trusted.delegate", "user.delegate"] {
            var value = [UInt8](repeating: 0, count: 8)
            let n = getxattr(path, name, &value, value.count)
            if n > 0 && value[0] == UInt8(ascii: "1") { return true }
        }
        return false
    }

    private func write(_ text: String, to file: String) -> Bool {
        let fd = open(file, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return text.withCString { Glibc.write(fd, $0, strlen($0)) } > 0
    }
}
