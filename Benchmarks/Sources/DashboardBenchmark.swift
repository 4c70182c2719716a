import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The dashboard's first paint: a daemon with 1,000 jobs and 1,000,000 history rows, the page
/// opened through `schedctl dashboard` in a fresh headless Chromium each time
/// (`Tests/Browser/dashboard.py --measure`): the time from navigation until the job list is on
/// the page (the job list itself, not the "loading…" placeholder).
enum DashboardBenchmark {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Tests/Browser/dashboard.py").standardized.path

    static func run(jobs: Int = 1_000, rows: Int = 1_000_000, rounds: Int = 7) async throws -> [BenchmarkResult] {
        try BenchDaemon.requireBinaries()
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium") else {
            throw BenchError("the dashboard scenario needs Debian's chromium and python3-websockets (scripts/install-deps.sh)")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("schedd-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let list = (0..<jobs).map { #"{"name": "j\#($0)", "shell": "true", "schedule": "\#($0 % 60) 3 * * *", "timezone": "UTC"}"# }
        let config = directory.appendingPathComponent("jobs.json")
        try #"{"jobs": [\#(list.joined(separator: ","))]}"#.write(to: config, atomically: true, encoding: .utf8)
        let first = try BenchDaemon(directory: directory)
        try first.start(["--config", config.path])
        first.stop()
        try IdleBenchmark.fillHistory(path: first.database, jobs: jobs, rows: rows)

        let daemon = try BenchDaemon(directory: directory)
        defer { daemon.stop() }
        try daemon.start(["--config", config.path])
        let output = directory.appendingPathComponent("dashboard.out").path
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        let dashboard = Process()
        dashboard.executableURL = URL(fileURLWithPath: BenchDaemon.schedctl)
        dashboard.arguments = ["--socket", daemon.socket, "dashboard"]
        dashboard.standardOutput = FileHandle(forWritingAtPath: output)
        try dashboard.run()
        defer {
            dashboard.terminate()
            dashboard.waitUntilExit()
        }
        var url: String?
        for _ in 0..<500 where url == nil {
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            url = text.range(of: #"http://127\.0\.0\.1:\d+/\?token=[0-9a-f]+"#, options: .regularExpression).map { String(text[$0]) }
            usleep(10_000)
        }
        guard let url else { throw BenchError("schedctl dashboard printed no address") }
        var times: [Double] = []
        var paints: [Double] = []
        for _ in 0..<rounds {
            let pipe = Pipe()
            let driver = Process()
            driver.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            driver.arguments = [script, "--measure", url]
            driver.standardOutput = pipe
            try driver.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            driver.waitUntilExit()
            guard let seen = try JSONSerialization.jsonObject(with: data) as? [String: Any], let ms = seen["list_ms"] as? Double ?? (seen["list_ms"] as? Int).map(Double.init),
                  (seen["jobs"] as? Int) == jobs else {
                throw BenchError("the browser did not show the \(jobs) jobs: \(String(decoding: data, as: UTF8.self))")
            }
            times.append(ms)
            paints.append(seen["first_paint_ms"] as? Double ?? -1)
        }
        let median = EngineBenchmark.median(times)
        return [BenchmarkResult(
            scenario: "dashboard", metric: "job list on the page, ms", value: median, reference: nil, target: "< 200 ms", met: median < 200,
            detail: "\(jobs) jobs, \(rows) history rows, a fresh headless Chromium each round through schedctl dashboard; median of \(rounds): "
                + times.map { String(format: "%.0f", $0) }.joined(separator: " ") + " ms (first contentful paint: "
                + paints.map { String(format: "%.0f", $0) }.joined(separator: " ") + " ms)")]
    }
}
