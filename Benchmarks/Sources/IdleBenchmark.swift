import Foundation
import GRDB
import SchedulerAPI
#if canImport(Glibc)
import Glibc
#endif

/// Scenario 5: a daemon with 10,000 jobs whose next fire is an hour away and 1,000,000 rows of
/// history: start-to-ready, CPU while idle, resident memory, and `schedctl history` latency.
enum IdleBenchmark {
    static func run(jobs: Int = 10_000, rows: Int = 1_000_000, idleSeconds: Int = 60) async throws -> [BenchmarkResult] {
        try BenchDaemon.requireBinaries()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("schedd-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        // Every job fires daily at an hour two hours from now (UTC), so none fires during the test.
        let hour = (Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: Date()).hour! + 2) % 24
        let list = (0..<jobs).map { #"{"name": "j\#($0)", "shell": "true", "schedule": "\#($0 % 60) \#(hour) * * *", "timezone": "UTC"}"# }
        let config = directory.appendingPathComponent("jobs.json")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try #"{"jobs": [\#(list.joined(separator: ","))]}"#.write(to: config, atomically: true, encoding: .utf8)

        // First start: creates the database and loads the jobs. Then the history is added
        // behind the daemon's back, as years of use would have.
        let first = try BenchDaemon(directory: directory)
        try first.start(["--config", config.path])
        first.stop()
        let fill = ContinuousClock.now
        try fillHistory(path: first.database, jobs: jobs, rows: rows)
        let fillSeconds = (ContinuousClock.now - fill).seconds

        let daemon = try BenchDaemon(directory: directory)
        defer { daemon.stop() }
        try daemon.start(["--config", config.path])
        let ready = daemon.startToReady * 1000
        try await Task.sleep(for: .seconds(2))
        let cpuBefore = cpuSeconds(pid: daemon.pid)
        let wall = ContinuousClock.now
        try await Task.sleep(for: .seconds(idleSeconds))
        let cpu = (cpuSeconds(pid: daemon.pid) - cpuBefore) / (ContinuousClock.now - wall).seconds * 100
        let rss = residentMiB(pid: daemon.pid)
        var times: [Double] = []
        for _ in 0..<20 {
            times.append(try ControlBenchmark.timeProcess(BenchDaemon.schedctl, ["--socket", daemon.socket, "history", "j42", "--limit", "50"], rounds: 1) * 1000)
        }
        let history = EngineBenchmark.median(times)
        let setup = "\(jobs) jobs (next fire in over an hour), \(rows) history rows (added in \(Int(fillSeconds)) s)"
        return [
            BenchmarkResult(scenario: "idle-ready", metric: "start-to-ready, ms", value: ready, reference: nil,
                            target: "< 300 ms", met: ready < 300, detail: setup + ": spawn until GET /v1/status answers"),
            BenchmarkResult(scenario: "idle-cpu", metric: "idle CPU, % of one core", value: cpu, reference: nil,
                            target: "< 0.5%", met: cpu < 0.5, detail: String(format: "%.3f%% over %d s (utime+stime from /proc)", cpu, idleSeconds)),
            BenchmarkResult(scenario: "idle-rss", metric: "resident memory, MiB", value: rss, reference: nil,
                            target: "< 64 MiB", met: rss < 64, detail: String(format: "VmRSS %.1f MiB after %d s idle", rss, idleSeconds)),
            BenchmarkResult(scenario: "idle-history", metric: "schedctl history --limit 50, ms", value: history, reference: nil,
                            target: "< 50 ms", met: history < 50,
                            detail: String(format: "whole process, median of 20: %@ ms", times.map { String(format: "%.1f", $0) }.joined(separator: " "))),
        ]
    }

    /// Adds `rows` finished runs spread over the jobs and the last 10 days, in one transaction.
    static func fillHistory(path: String, jobs: Int, rows: Int) throws {
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(sql: """
                WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
                INSERT INTO runs (job, trigger, attempt, status, scheduled_at, started_at, finished_at, duration_ms, exit_code, output, output_truncated)
                SELECT 'j' || (i % ?), 'schedule', 1, CASE WHEN i % 50 = 0 THEN 'failed' ELSE 'succeeded' END,
                       strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || (? - i) || ' seconds'),
                       strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || (? - i) || ' seconds'),
                       strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || (? - i) || ' seconds', '+1 seconds'),
                       1000, CASE WHEN i % 50 = 0 THEN 1 ELSE 0 END, 'line ' || i || char(10), 0
                FROM n
                """, arguments: [rows - 1, jobs, rows, rows, rows])
        }
    }

    /// utime + stime of a process, in seconds.
    static func cpuSeconds(pid: Int32) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return .nan }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After the command: state is field 3; utime and stime are fields 14 and 15.
        guard fields.count > 12, let utime = Double(fields[11]), let stime = Double(fields[12]) else { return .nan }
        return (utime + stime) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    static func residentMiB(pid: Int32) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kb = Double(line.split(separator: " ").dropFirst().first ?? "") else { return .nan }
        return kb / 1024
    }
}
