import Foundation

/// `swift run -c release schedd-bench [SCENARIO…] [--json FILE]`: runs the scenarios (all by
/// default), prints a table, and writes JSON when asked. Build in release mode: debug figures
/// mean nothing.
@main
enum BenchmarkMain {
    /// Every scenario, in the order of the issue; each gives one or more rows.
    static let scenarios: [(name: String, run: @Sendable () async throws -> [BenchmarkResult])] = [
        ("throughput", { [try await EngineBenchmark.processThroughput(cgroupPerRun: true),
                          try await EngineBenchmark.processThroughput(cgroupPerRun: false)] }),
        ("lateness-proc", { [try await LatenessBenchmark.processes()] }),
        ("lateness-handler", { [try await LatenessBenchmark.handlers()] }),
        // With 4 workers at most 4 runs share a commit; 64 shows what the engine does when
        // the embedder lets more run at once.
        ("in-process", { [try await EngineBenchmark.handlerThroughput(workers: 4), try await EngineBenchmark.handlerThroughput(workers: 64)] }),
        ("control-status", { [try ControlBenchmark.status()] }),
        ("control-list", { [try ControlBenchmark.list()] }),
        ("idle", { try await IdleBenchmark.run() }),
        ("busy", { try await BusyBenchmark.run() }),
        ("dashboard", { try await DashboardBenchmark.run() }),
        ("idle-services", { try await ServicesBenchmark.run() }),
        ("schedule-math", { [ScheduleBenchmark.run(iterations: 2_000_000)] }),
    ]

    static func format(_ value: Double) -> String {
        String(format: abs(value) < 10 ? "%.2f" : "%.0f", value)
    }

    static func main() async throws {
        var arguments = Array(CommandLine.arguments.dropFirst())
        var jsonPath: String?
        if let i = arguments.firstIndex(of: "--json"), i + 1 < arguments.count {
            jsonPath = arguments[i + 1]
            arguments.removeSubrange(i...i + 1)
        }
        let names = arguments.isEmpty ? scenarios.map(\.name) : arguments
        var results: [BenchmarkResult] = []
        for name in names {
            guard let scenario = scenarios.first(where: { $0.name == name }) else {
                FileHandle.standardError.write(Data("unknown scenario \(name); known: \(scenarios.map(\.name).joined(separator: ", "))\n".utf8))
                exit(2)
            }
            FileHandle.standardError.write(Data("running \(name)…\n".utf8))
            do {
                results.append(contentsOf: try await scenario.run())
            } catch {
                FileHandle.standardError.write(Data("\(name) failed: \(error)\n".utf8))
                exit(1)
            }
        }
        #if DEBUG
        print("warning: a debug build; run with -c release for real figures")
        #endif
        print("scenario        metric                         value          reference  target            met")
        for r in results {
            let value = format(r.value)
            let reference = r.reference.map(format) ?? "-"
            print("\(r.scenario.padding(toLength: 15, withPad: " ", startingAt: 0)) \(r.metric.padding(toLength: 30, withPad: " ", startingAt: 0)) \(value.padding(toLength: 14, withPad: " ", startingAt: 0)) \(reference.padding(toLength: 10, withPad: " ", startingAt: 0)) \(r.target.padding(toLength: 17, withPad: " ", startingAt: 0)) \(r.met ? "yes" : "NO")")
            print("  \(r.detail)")
        }
        if let jsonPath {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(results).write(to: URL(fileURLWithPath: jsonPath))
        }
    }
}
