import Foundation
import Logging
import Scheduler
import SchedulerAPI

/// Scenarios 1 and 3 of the benchmark program: runs per second through the whole engine (a row
/// per run in SQLite, start and end), against `xargs -P` on the same machine for processes.
enum EngineBenchmark {
    /// Runs `count` manual triggers of one job and returns the seconds until all are recorded.
    /// At most 1,000 runs are asked for ahead of the ones recorded: queueing all of them at
    /// once would pass the engine's bound of waiting runs (`maxQueued`) and turn some into
    /// `skipped` rows, which are not runs. Every run must succeed.
    static func measure(jobFile: String, job: String, count: Int, workers: Int, handlers: [String: JobHandler] = [:],
                        cgroupPerRun: Bool = true) async throws -> (seconds: Double, tracking: ProcessSweeper.Tracking) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("schedd-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = try SchedulerDatabase(path: directory.appendingPathComponent("bench.db").path)
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        var configuration = JobScheduler.Configuration(workers: workers, shutdownGrace: .seconds(5), cgroupPerRun: cgroupPerRun)
        configuration.processFileLimit = BenchDaemon.fileLimitAsShipped()
        let engine = JobScheduler(database: database, handlers: handlers, configuration: configuration, logger: logger)
        try await engine.apply(jobFile: jobFile)
        let events = engine.events.subscribe(bufferSize: count * 4 + 16)
        let seconds = try await withThrowingTaskGroup(of: Double?.self) { group in
            group.addTask { try await engine.run(); return nil }
            while !(await engine.isReady) { try await Task.sleep(for: .milliseconds(5)) }
            let start = ContinuousClock.now
            var asked = 0
            while asked < min(count, 1000) {
                _ = try await engine.runNow(job, force: true)
                asked += 1
            }
            var finished = 0
            var notSucceeded: [RunStatus: Int] = [:]
            for await event in events {
                guard case let .runFinished(record) = event else { continue }
                finished += 1
                if record.status != .succeeded { notSucceeded[record.status, default: 0] += 1 }
                if asked < count {
                    _ = try await engine.runNow(job, force: true)
                    asked += 1
                }
                if finished == count { break }
            }
            let elapsed = ContinuousClock.now - start
            engine.shutdown()
            _ = try await group.next()
            guard notSucceeded.isEmpty else {
                let counts = notSucceeded.map { "\($0.value) \($0.key.rawValue)" }.sorted().joined(separator: ", ")
                throw BenchError("of \(count) runs of \(job), \(counts): the figure would not be runs")
            }
            return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        }
        try database.close()
        return (seconds, engine.processTracking)
    }

    /// `seq N | xargs -P W -n1 true`: the same processes without a scheduler.
    static func xargsSeconds(count: Int, workers: Int) throws -> Double {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "seq \(count) | xargs -P \(workers) -n1 /bin/true"]
        let start = ContinuousClock.now
        try process.run()
        process.waitUntilExit()
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    /// With `cgroupPerRun`, as shipped: each run in its own cgroup where the system allows it.
    static func processThroughput(count: Int = 2000, workers: Int = 4, rounds: Int = 3, cgroupPerRun: Bool) async throws -> BenchmarkResult {
        let file = #"{"jobs": [{"name": "t", "command": ["/bin/true"], "concurrency": "allow"}]}"#
        var ours: [Double] = []
        var reference: [Double] = []
        var tracking = ProcessSweeper.Tracking.procScan("")
        for _ in 0..<rounds {
            let measured = try await measure(jobFile: file, job: "t", count: count, workers: workers, cgroupPerRun: cgroupPerRun)
            tracking = measured.tracking
            ours.append(Double(count) / measured.seconds)
            reference.append(Double(count) / (try xargsSeconds(count: count, workers: workers)))
        }
        let rate = median(ours), xargs = median(reference)
        let mode: String
        switch tracking {
        case let .cgroup(base): mode = "a cgroup per run (below \(base))"
        case let .procScan(reason): mode = "processes tracked through /proc (\(reason))"
        }
        return BenchmarkResult(
            scenario: cgroupPerRun ? "throughput" : "throughput-proc", metric: "process runs/s (recorded)", value: rate, reference: xargs,
            target: ">= 1.0x xargs", met: rate >= xargs,
            detail: "\(count) runs of /bin/true, \(workers) workers, \(mode), median of \(rounds): ratio \(String(format: "%.2f", rate / xargs)) (schedd \(ours.map { Int($0) }), xargs \(reference.map { Int($0) }))")
    }

    static func handlerThroughput(count: Int = 20000, workers: Int) async throws -> BenchmarkResult {
        let file = #"{"jobs": [{"name": "h", "handler": "noop", "concurrency": "allow"}]}"#
        let seconds = try await measure(jobFile: file, job: "h", count: count, workers: workers, handlers: ["noop": { _ in }]).seconds
        let rate = Double(count) / seconds
        return BenchmarkResult(
            scenario: "in-process", metric: "handler runs/s, \(workers) workers", value: rate, reference: nil,
            target: ">= 20,000/s", met: rate >= 20_000,
            detail: "\(count) runs of a no-op handler, \(workers) workers, each with its row written at start and end")
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted[sorted.count / 2]
    }
}
