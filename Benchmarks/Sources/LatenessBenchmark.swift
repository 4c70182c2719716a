import Foundation
import Logging
import Scheduler
import SchedulerAPI

/// Scenario 2: how late scheduled runs start (their row's `started_at` minus `scheduled_at`)
/// and whether any fire is missed or doubled, with every job `@every 1s`.
enum LatenessBenchmark {
    /// Lateness figures of the scheduled runs in a database.
    struct Figures {
        var runs = 0
        var p50 = 0.0, p99 = 0.0, max = 0.0
        /// Slots skipped in a job's chain of fires (`@every` counts from the previous slot, so
        /// consecutive scheduled times of a job are exactly the interval apart).
        var missed = 0
        var doubled = 0
        var skipped = 0

        var summary: String {
            String(format: "%d scheduled runs: lateness p50 %.1f ms, p99 %.1f ms, max %.1f ms; %d missed fires, %d fired twice, %d skipped (overlap)",
                   runs, p50, p99, max, missed, doubled, skipped)
        }
    }

    static func figures(database path: String, intervalMs: Int64 = 1000) async throws -> Figures {
        let database = try SchedulerDatabase(path: path)
        defer { try? database.close() }
        var query = HistoryQuery()
        query.limit = Int.max
        let runs = try await database.runs.history(query, withOutput: false).filter { $0.scheduledAt != nil }
        var figures = Figures()
        var lateness: [Double] = []
        var slots: [String: [Int64]] = [:]
        for run in runs {
            let slot = Int64((run.scheduledAt!.timeIntervalSince1970 * 1000).rounded())
            slots[run.job, default: []].append(slot)
            if run.status == .skipped {
                figures.skipped += 1
                continue
            }
            lateness.append(run.startedAt.timeIntervalSince(run.scheduledAt!) * 1000)
        }
        for (_, list) in slots {
            let sorted = list.sorted()
            for (a, b) in zip(sorted, sorted.dropFirst()) {
                let gap = b - a
                if gap == 0 { figures.doubled += 1 } else if gap > intervalMs { figures.missed += Int((gap + intervalMs / 2) / intervalMs) - 1 }
            }
        }
        let p = Percentiles(lateness)
        figures.runs = lateness.count
        figures.p50 = p.at(50)
        figures.p99 = p.at(99)
        figures.max = p.max
        return figures
    }

    /// 200 process jobs `@every 1s` for 30 s through the release daemon, with a worker for each.
    static func processes(jobs: Int = 200, seconds: Int = 30) async throws -> BenchmarkResult {
        try BenchDaemon.requireBinaries()
        let daemon = try BenchDaemon()
        defer { daemon.stop(); daemon.removeFiles() }
        let list = (0..<jobs).map { #"{"name": "p\#($0)", "command": ["/bin/true"], "schedule": "@every 1s"}"# }
        let config = daemon.directory.appendingPathComponent("jobs.json")
        try #"{"jobs": [\#(list.joined(separator: ","))]}"#.write(to: config, atomically: true, encoding: .utf8)
        try daemon.start(["--config", config.path, "--workers", "\(jobs)"])
        try await Task.sleep(for: .seconds(seconds))
        daemon.stop()
        let f = try await figures(database: daemon.database)
        return BenchmarkResult(
            scenario: "lateness-proc", metric: "process lateness p99, ms", value: f.p99, reference: nil,
            target: "p50 <= 3, p99 <= 10, none missed", met: f.p50 <= 3 && f.p99 <= 10 && f.missed == 0 && f.doubled == 0,
            detail: "\(jobs) jobs running /bin/true @every 1s for \(seconds) s, \(jobs) workers: " + f.summary)
    }

    /// 10,000 in-process handler jobs `@every 1s` for 30 s in an embedded engine.
    static func handlers(jobs: Int = 10_000, seconds: Int = 30, workers: Int = 64) async throws -> BenchmarkResult {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("schedd-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("bench.db").path
        let database = try SchedulerDatabase(path: path)
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        let engine = JobScheduler(database: database, handlers: ["noop": { _ in }],
                                  configuration: .init(workers: workers, shutdownGrace: .seconds(5)), logger: logger)
        let list = (0..<jobs).map { #"{"name": "h\#($0)", "handler": "noop", "schedule": "@every 1s"}"# }
        try await engine.apply(jobFile: #"{"jobs": [\#(list.joined(separator: ","))]}"#)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await engine.run() }
            try await Task.sleep(for: .seconds(seconds))
            engine.shutdown()
            try await group.next()
        }
        try database.close()
        let f = try await figures(database: path)
        return BenchmarkResult(
            scenario: "lateness-handler", metric: "handler lateness p99, ms", value: f.p99, reference: nil,
            target: "p99 <= 50, none missed/skipped", met: f.p99 <= 50 && f.missed == 0 && f.doubled == 0 && f.skipped == 0,
            detail: "\(jobs) no-op handler jobs @every 1s for \(seconds) s, \(workers) workers: " + f.summary)
    }
}
