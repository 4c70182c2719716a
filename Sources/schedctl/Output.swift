import Foundation
import SchedulerAPI

/// Printing helpers shared by the verbs: JSON, aligned tables, relative times.
enum Output {
    static func printJSON(_ value: JSONValue) {
        print(value.serialized(pretty: true))
    }

    /// Re-indents a JSON reply for `--json`.
    static func printJSON(bytes: [UInt8]) {
        if let value = try? JSONParser.parse(bytes) {
            printJSON(value)
        } else {
            print(String(decoding: bytes, as: UTF8.self))
        }
    }

    /// Columns padded to their widest cell, like `systemctl list-timers`.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0.indices.contains(column) ? $0[column].count : 0 }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    /// "in 4m", "2h ago", "now"; or the absolute UTC time with `wide`.
    static func when(_ date: Date?, wide: Bool, now: Date = Date()) -> String {
        guard let date else { return "-" }
        if wide { return Timestamp.format(date) }
        let delta = date.timeIntervalSince(now)
        // Rounded as `span` rounds: a retry due in 0.8 s (a backoff of 1s, jittered) is "in 1s".
        if abs(delta) < 0.5 { return "now" }
        let text = span(abs(delta))
        return delta > 0 ? "in \(text)" : "\(text) ago"
    }

    /// "1 job", "3 jobs".
    /// Where a run's deferred final result is applied, as a phrase: "at schedd's next start".
    static func place(_ place: FinalResultPlace) -> String {
        switch place {
        case .nextStart: return "at schedd's next start"
        case .anotherNode: return "by another node once this one has stopped"
        }
    }

    static func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }

    /// "45s", "4m", "2h 5m", "3d 4h".
    static func span(_ seconds: TimeInterval) -> String {
        let s = Int(seconds.rounded())
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m" }
        if s < 86_400 { return s % 3600 / 60 == 0 ? "\(s / 3600)h" : "\(s / 3600)h \(s % 3600 / 60)m" }
        return s % 86_400 / 3600 == 0 ? "\(s / 86_400)d" : "\(s / 86_400)d \(s % 86_400 / 3600)h"
    }

    static func duration(_ ms: Int64?) -> String {
        guard let ms else { return "-" }
        return ms < 1000 ? "\(ms)ms" : ms < 60_000 ? String(format: "%.1fs", Double(ms) / 1000) : span(Double(ms) / 1000)
    }

    /// The result column: status, with the exit code or signal when it failed.
    static func result(_ run: RunRecord?) -> String {
        guard let run else { return "-" }
        if let code = run.exitCode, code != 0 { return "\(run.status.rawValue) (exit \(code))" }
        if let signal = run.signal { return "\(run.status.rawValue) (signal \(signal))" }
        return run.status.rawValue
    }

    /// Why the run ended so, from its error, without the status a skip's reason begins with
    /// (`skipped: requires db, …` gives `requires db, …`).
    static func why(_ run: RunRecord) -> String? {
        guard let error = run.error else { return nil }
        let status = run.status.rawValue + ": "
        return error.hasPrefix(status) ? String(error.dropFirst(status.count)) : error
    }
}
