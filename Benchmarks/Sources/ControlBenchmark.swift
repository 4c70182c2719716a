import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Scenario 4: the control plane of the release daemon, with 1,000 jobs.
enum ControlBenchmark {
    static func jobFile(count: Int) -> String {
        let jobs = (0..<count).map { i in
            #"{"name": "job-\#(String(format: "%04d", i))", "shell": "true", "schedule": "\#(i % 60) \#(i % 24) * * *"}"#
        }
        return #"{"jobs": [\#(jobs.joined(separator: ",\n"))]}"#
    }

    /// Wall seconds for `rounds` whole runs of a process, run one after another.
    static func timeProcess(_ executable: String, _ arguments: [String], rounds: Int) throws -> Double {
        let start = ContinuousClock.now
        for _ in 0..<rounds {
            let status = Spawn.run(executable, arguments)
            guard status == 0 else { throw BenchError("\(executable) \(arguments) ended with wait status \(status)") }
        }
        return (ContinuousClock.now - start).seconds / Double(rounds)
    }

    static func withDaemon<T>(jobs: Int, _ body: (BenchDaemon) throws -> T) throws -> T {
        try BenchDaemon.requireBinaries()
        let daemon = try BenchDaemon()
        defer { daemon.stop(); daemon.removeFiles() }
        let config = daemon.directory.appendingPathComponent("jobs.json")
        try jobFile(count: jobs).write(to: config, atomically: true, encoding: .utf8)
        try daemon.start(["--config", config.path])
        return try body(daemon)
    }

    /// `schedctl status` against `curl --unix-socket` on the same endpoint, alternating
    /// rounds so that both see the same machine; the median round of each.
    static func status(rounds: Int = 5, calls: Int = 40) throws -> BenchmarkResult {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/curl") else { throw BenchError("the reference needs /usr/bin/curl") }
        return try withDaemon(jobs: 1000) { daemon in
            var ours: [Double] = [], curl: [Double] = []
            for _ in 0..<rounds {
                ours.append(try timeProcess(BenchDaemon.schedctl, ["--socket", daemon.socket, "status"], rounds: calls))
                curl.append(try timeProcess("/usr/bin/curl", ["-sf", "--unix-socket", daemon.socket, "http://schedd/v1/status"], rounds: calls))
            }
            let a = EngineBenchmark.median(ours) * 1000, b = EngineBenchmark.median(curl) * 1000
            return BenchmarkResult(
                scenario: "control-status", metric: "schedctl status, ms per call", value: a, reference: b,
                target: "<= 1.5x curl", met: a <= 1.5 * b,
                detail: "1,000 jobs, \(rounds) alternating rounds of \(calls) calls, median round: ratio \(String(format: "%.2f", a / b)) (schedctl \(ours.map { Int($0 * 1e6) }) us, curl \(curl.map { Int($0 * 1e6) }) us)")
        }
    }

    /// `GET /v1/jobs` with 1,000 jobs from 50 clients at once, each sending its next request
    /// as soon as its last one is answered.
    static func list(clients: Int = 50, requestsPerClient: Int = 100) throws -> BenchmarkResult {
        try withDaemon(jobs: 1000) { daemon in
            let socket = daemon.socket
            // Measured once settled: for a few milliseconds after start the jobs have no next
            // run yet (a shorter list).
            var sample = ""
            for _ in 0..<50 {
                guard let reply = HTTP.get(socket, "/v1/jobs"), reply.hasPrefix("HTTP/1.1 200") else { throw BenchError("GET /v1/jobs failed") }
                if reply.utf8.count == sample.utf8.count { break }
                sample = reply
                usleep(100_000)
            }
            let expected = sample.utf8.count
            let latencies = Mutex<[Double]>([])
            let failures = Atomic<Int>(0)
            let done = DispatchGroup()
            let daemonCPU = IdleBenchmark.cpuSeconds(pid: daemon.pid)
            let clientCPU = IdleBenchmark.cpuSeconds(pid: getpid())
            let start = ContinuousClock.now
            for _ in 0..<clients {
                done.enter()
                let thread = Thread {
                    var mine: [Double] = []
                    var buffer = [UInt8](repeating: 0, count: 256 * 1024)
                    for _ in 0..<requestsPerClient {
                        let began = ContinuousClock.now
                        var received = 0
                        var ok = false
                        let answered = HTTP.exchange(socket, "GET /v1/jobs HTTP/1.1\r\nHost: schedd\r\nConnection: close\r\n\r\n", buffer: &buffer) { data in
                            if received == 0 { ok = data.starts(with: "HTTP/1.1 200".utf8) }
                            received += data.count
                        }
                        if !answered || !ok || received < expected { failures.add(1, ordering: .relaxed) }
                        mine.append((ContinuousClock.now - began).seconds * 1000)
                    }
                    latencies.withLock { $0.append(contentsOf: mine) }
                    done.leave()
                }
                thread.start()
            }
            done.wait()
            let elapsed = (ContinuousClock.now - start).seconds
            let p = Percentiles(latencies.withLock { $0 })
            let n = clients * requestsPerClient
            // Both share the machine's cores: the daemon's CPU per request bounds the rate.
            let daemonMicros = (IdleBenchmark.cpuSeconds(pid: daemon.pid) - daemonCPU) / Double(n) * 1e6
            let clientMicros = (IdleBenchmark.cpuSeconds(pid: getpid()) - clientCPU) / Double(n) * 1e6
            return BenchmarkResult(
                scenario: "control-list", metric: "GET /v1/jobs p99, ms", value: p.at(99), reference: nil,
                target: "< 20 ms", met: p.at(99) < 20 && failures.load(ordering: .relaxed) == 0,
                detail: String(format: "1,000 jobs (%d KB), %d clients at once, %d requests: p50 %.1f ms, p99 %.1f ms, max %.1f ms, %.0f requests/s, %d failed; CPU per request: schedd %.0f us, clients %.0f us",
                               sample.utf8.count / 1024, clients, n, p.at(50), p.at(99), p.max, Double(n) / elapsed, failures.load(ordering: .relaxed),
                               daemonMicros, clientMicros))
        }
    }
}
