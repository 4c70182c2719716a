import Foundation

/// `swift run -c release schedd-bench [SCENARIO…] [--json FILE]`: runs the scenarios (all by
/// default), prints a table, and writes JSON when asked. Build in release mode: debug figures
/// mean nothing.
@main
enum BenchmarkMain {
    static let scenarios: [String: @Sendable () async throws -> BenchmarkResult] = [
        "schedule-math": { ScheduleBenchmark.run(iterations: 2_000_000) },
        "throughput": { try await EngineBenchmark.processThroughput() },
        "in-process": { try await EngineBenchmark.handlerThroughput() },
        "control-status": { try ControlBenchmark.status() },
        "control-list": { try ControlBenchmark.list() },
    ]

    static func main() async throws {
        var arguments = Array(CommandLine.arguments.dropFirst())
        var jsonPath: String?
        if let i = arguments.firstIndex(of: "--json"), i + 1 < arguments.count {
            jsonPath = arguments[i + 1]
            arguments.removeSubrange(i...i + 1)
        }
        let names = arguments.isEmpty ? scenarios.keys.sorted() : arguments
        var results: [BenchmarkResult] = []
        for name in names {
            guard let scenario = scenarios[name] else {
                FileHandle.standardError.write(Data("unknown scenario \(name); known: \(scenarios.keys.sorted().joined(separator: ", "))\n".utf8))
                exit(2)
            }
            results.append(try await scenario())
        }
        #if DEBUG
        print("warning: a debug build; run with -c release for real figures")
        #endif
        print("scenario        metric                         value          reference  target            met")
        for r in results {
            let value = String(format: "%.0f", r.value)
            let reference = r.reference.map { String(format: "%.0f", $0) } ?? "-"
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
