import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Scenario `idle-services`: 200 running services that do nothing (`sleep`), supervised by
/// schedd and, in the same window, by supervisord (Debian's `supervisor` package) as the
/// reference: CPU over 60 s and resident memory of each supervisor (not of the services).
enum ServicesBenchmark {
    static let supervisordPath = "/usr/bin/supervisord"

    static func run(services: Int = 200, idleSeconds: Int = 60) async throws -> [BenchmarkResult] {
        try BenchDaemon.requireBinaries()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("schedd-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        let list = (0..<services).map { #"{"name": "svc\#($0)", "command": ["/bin/sleep", "100000"], "restart": "always"}"# }
        let config = directory.appendingPathComponent("jobs.json")
        try #"{"jobs": [\#(list.joined(separator: ","))]}"#.write(to: config, atomically: true, encoding: .utf8)
        let daemon = try BenchDaemon(directory: directory)
        defer { daemon.stop() }
        try daemon.start(["--config", config.path])
        try waitUntil("schedd's \(services) services run") { servicesRunning(socket: daemon.socket) == services }

        var supervisor: pid_t?
        defer {
            if let supervisor {
                // supervisord stops its programs on SIGTERM, then exits.
                kill(supervisor, SIGTERM)
                _ = Spawn.wait(supervisor)
            }
        }
        if FileManager.default.isExecutableFile(atPath: supervisordPath) {
            let pid = try startSupervisord(directory: directory, services: services)
            supervisor = pid
            try waitUntil("supervisord's \(services) programs run") { childCount(of: pid) >= services }
        } else {
            FileHandle.standardError.write(Data("idle-services: \(supervisordPath) is not installed (apt-get install supervisor); no reference\n".utf8))
        }

        try await Task.sleep(for: .seconds(2))
        let pids = [daemon.pid] + (supervisor.map { [$0] } ?? [])
        let before = pids.map(IdleBenchmark.cpuSeconds)
        let wall = ContinuousClock.now
        try await Task.sleep(for: .seconds(idleSeconds))
        let seconds = (ContinuousClock.now - wall).seconds
        let cpu = zip(pids, before).map { (IdleBenchmark.cpuSeconds(pid: $0) - $1) / seconds * 100 }
        let rss = pids.map(IdleBenchmark.residentMiB)
        let setup = "\(services) services (/bin/sleep), \(idleSeconds) s idle"
        let cpuRatio = cpu.count > 1 ? cpu[0] / max(cpu[1], 0.0001) : .nan
        let rssRatio = rss.count > 1 ? rss[0] / rss[1] : .nan
        return [
            BenchmarkResult(scenario: "idle-services", metric: "CPU, % of one core", value: cpu[0], reference: cpu.count > 1 ? cpu[1] : nil,
                            target: "≤ 2x supervisord", met: cpu.count > 1 && cpuRatio <= 2,
                            detail: setup + String(format: ": schedd %.3f%%, supervisord %@; ratio %.2f", cpu[0],
                                                   cpu.count > 1 ? String(format: "%.3f%%", cpu[1]) : "not run", cpuRatio)),
            BenchmarkResult(scenario: "idle-services", metric: "resident memory, MiB", value: rss[0], reference: rss.count > 1 ? rss[1] : nil,
                            target: "≤ 1.2x supervisord", met: rss.count > 1 && rssRatio <= 1.2,
                            detail: setup + String(format: ": VmRSS schedd %.1f MiB, supervisord %@; ratio %.2f", rss[0],
                                                   rss.count > 1 ? String(format: "%.1f MiB", rss[1]) : "not run", rssRatio)),
        ]
    }

    /// supervisord in the foreground with `services` programs like schedd's, its socket and
    /// logs in `directory`.
    static func startSupervisord(directory: URL, services: Int) throws -> pid_t {
        var conf = """
            [supervisord]
            nodaemon=true
            logfile=\(directory.path)/supervisord.log
            pidfile=\(directory.path)/supervisord.pid
            childlogdir=\(directory.path)

            [unix_http_server]
            file=\(directory.path)/supervisor.sock

            [rpcinterface:supervisor]
            supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

            [supervisorctl]
            serverurl=unix://\(directory.path)/supervisor.sock

            """
        for i in 0..<services {
            conf += """

                [program:svc\(i)]
                command=/bin/sleep 100000
                autorestart=true
                stdout_logfile=\(directory.path)/svc\(i).out
                stderr_logfile=\(directory.path)/svc\(i).err

                """
        }
        let path = directory.appendingPathComponent("supervisord.conf")
        try conf.write(to: path, atomically: true, encoding: .utf8)
        // Not Foundation's Process: on Linux a thread of it kept polling for the exit.
        guard let pid = Spawn.start(supervisordPath, ["-n", "-c", path.path]) else { throw BenchError("cannot start \(supervisordPath)") }
        return pid
    }

    /// `services_running` of `GET /v1/status`.
    static func servicesRunning(socket: String) -> Int? {
        guard let reply = HTTP.get(socket, "/v1/status"), let start = reply.range(of: "\r\n\r\n")?.upperBound,
              let object = try? JSONSerialization.jsonObject(with: Data(reply[start...].utf8)) as? [String: Any] else { return nil }
        return object["services_running"] as? Int
    }

    /// How many children `pid` has (`/proc/PID/task/PID/children`; read to its end: /proc
    /// files report a size of 0).
    static func childCount(of pid: Int32) -> Int {
        let fd = open("/proc/\(pid)/task/\(pid)/children", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes += buffer[..<n]
        }
        return bytes.split(separator: UInt8(ascii: " ")).count
    }

    static func waitUntil(_ what: String, timeout: Duration = .seconds(120), _ condition: () -> Bool) throws {
        FileHandle.standardError.write(Data("idle-services: waiting until \(what)\n".utf8))
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            guard ContinuousClock.now < deadline else { throw BenchError("timed out waiting until \(what)") }
            usleep(50_000)
        }
    }
}
