import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A daemon kept busy: runs of a job with a timeout asked for as fast as 8 clients can
/// (`POST /v1/jobs/t/run`), beside a scheduled job whose next fire is an hour away, as a
/// daemon in use has. Its resident memory must not grow with the runs: whatever a run leaves
/// behind until some deadline (a timer, a cancelled sleep) shows here as growth over the
/// first 30 s.
enum BusyBenchmark {
    static func run(seconds: Int = 40, clients: Int = 8) async throws -> [BenchmarkResult] {
        try BenchDaemon.requireBinaries()
        let daemon = try BenchDaemon()
        defer {
            daemon.stop()
            daemon.removeFiles()
        }
        let config = daemon.directory.appendingPathComponent("jobs.json")
        try #"""
            {"jobs": [{"name": "hourly", "command": ["/bin/true"], "schedule": "@every 1h"},
                      {"name": "t", "command": ["/bin/true"], "concurrency": "allow", "timeout": "10m"}]}
            """#.write(to: config, atomically: true, encoding: .utf8)
        try daemon.start(["--config", config.path])
        let socket = daemon.socket
        let asked = Atomic<Int>(0)
        let failures = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)
        let finished = Atomic<Int>(0)
        for _ in 0..<clients {
            let thread = Thread {
                var buffer = [UInt8](repeating: 0, count: 16 * 1024)
                let request = "POST /v1/jobs/t/run HTTP/1.1\r\nHost: schedd\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
                while !stop.load(ordering: .relaxed) {
                    var ok = false
                    var first = true
                    let answered = HTTP.exchange(socket, request, buffer: &buffer) { data in
                        if first { ok = data.starts(with: "HTTP/1.1 2".utf8) }
                        first = false
                    }
                    if answered && ok { asked.add(1, ordering: .relaxed) } else { failures.add(1, ordering: .relaxed) }
                }
                finished.add(1, ordering: .relaxed)
            }
            thread.start()
        }
        var samples: [(second: Int, mib: Double)] = []
        for second in stride(from: 10, through: seconds, by: 10) {
            try await Task.sleep(for: .seconds(10))
            samples.append((second, IdleBenchmark.residentMiB(pid: daemon.pid)))
        }
        stop.store(true, ordering: .relaxed)
        // The clients' threads end after their request under way; not a blocking wait here.
        while finished.load(ordering: .relaxed) < clients { try await Task.sleep(for: .milliseconds(10)) }
        let first = samples.first?.mib ?? .nan, last = samples.last?.mib ?? .nan
        let growth = last - first
        let rate = Double(asked.load(ordering: .relaxed)) / Double(seconds)
        return [
            BenchmarkResult(
                scenario: "busy-rss", metric: "resident memory under load, MiB", value: last, reference: nil,
                target: "< 64 MiB, < 4 MiB growth after 10 s", met: last < 64 && growth < 4,
                detail: String(format: "%d clients asking for runs of /bin/true (timeout 10m) beside a job due in an hour, %d s: %.0f runs/s, %d failed requests; VmRSS %@",
                               clients, seconds, rate, failures.load(ordering: .relaxed),
                               samples.map { String(format: "%.1f MiB at %d s", $0.mib, $0.second) }.joined(separator: ", "))),
        ]
    }
}
