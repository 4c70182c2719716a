import Foundation
import SchedulerAPI

/// Scenario 6 of the benchmark program: next-fire computations per second over a mix of
/// expressions and zones (dense and sparse, fixed-time and wildcard, with DST).
enum ScheduleBenchmark {
    static let mix: [(String, String)] = [
        ("*/15 * * * *", "UTC"), ("30 2 * * *", "America/New_York"), ("0 9 * * MON-FRI", "Europe/Berlin"),
        ("0 0 29 2 *", "UTC"), ("0 0 13 * 5", "Australia/Lord_Howe"), ("*/20 * * * * *", "Asia/Kolkata"),
        ("0,30 1-3 * * *", "Europe/Berlin"), ("0 0 1 */3 *", "America/Sao_Paulo"), ("@hourly", "America/New_York"),
        ("45 23 31 12 *", "UTC"),
    ]

    static func run(iterations: Int) -> BenchmarkResult {
        // The mix is fixed and valid; a failure here is a bug in the parser.
        let prepared = mix.map { ((try? Schedule(parsing: $0.0))!, ZoneRules.named($0.1)!) }
        var cursors = [Date](repeating: Date(timeIntervalSince1970: 1_767_225_600), count: prepared.count)  // 2026-01-01
        var checksum = 0.0
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            for i in 0..<iterations {
                let k = i % prepared.count
                // Restart a schedule once it has run far ahead, so that every zone's table stays in range.
                if cursors[k].timeIntervalSince1970 > 4_102_444_800 { cursors[k] = Date(timeIntervalSince1970: 1_767_225_600) }
                let next = prepared[k].0.next(after: cursors[k], in: prepared[k].1)!
                cursors[k] = next
                checksum += next.timeIntervalSince1970
            }
        }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rate = Double(iterations) / seconds
        return BenchmarkResult(
            scenario: "schedule-math", metric: "next-fire computations/s", value: rate, reference: nil,
            target: ">= 1,000,000/s", met: rate >= 1_000_000,
            detail: "\(iterations) computations over \(mix.count) expressions in \(String(format: "%.3f", seconds)) s (checksum \(Int(checksum) % 1000))")
    }
}
