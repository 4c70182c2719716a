import Foundation
import SchedulerAPI

/// Turns the `run_output` chunks of `schedctl events --output`, which end anywhere, into whole
/// lines labelled with their run and stream, so that the lines of runs printing at once do not
/// mix within a line.
struct OutputLines {
    private struct Key: Hashable {
        var run: Int64
        var stream: StandardStream
    }

    /// The unfinished line of each run's stream, with the label it is printed under.
    private var partial: [Key: (label: String, text: String)] = [:]

    /// An unfinished line longer than this is printed as it is rather than kept waiting for
    /// its end: a run that prints without newlines holds no more than this here.
    static let longestLine = 16_384

    /// The lines that `chunk` completes.
    mutating func add(_ chunk: EventMessage) -> [String] {
        guard let run = chunk.runID, let text = chunk.output, !text.isEmpty else { return [] }
        let stream = chunk.stream ?? .stdout
        let key = Key(run: run, stream: stream)
        let time = String(Timestamp.format(chunk.at).dropFirst(11).prefix(12))
        let label = "\(time) \(chunk.job) run \(run) \(stream.rawValue):"
        // A line goes under the label of the chunk it began in.
        var (lineLabel, pending) = partial.removeValue(forKey: key) ?? (label, "")
        pending += text
        var pieces = pending.split(separator: "\n", omittingEmptySubsequences: false)
        let rest = String(pieces.removeLast())
        var lines: [String] = []
        for piece in pieces {
            lines.append("\(lineLabel) \(piece)")
            lineLabel = label
        }
        if rest.utf8.count > Self.longestLine {
            lines.append("\(lineLabel) \(rest)")
        } else if !rest.isEmpty {
            partial[key] = (lineLabel, rest)
        }
        return lines
    }

    /// The unfinished lines of `run`, once it has ended.
    mutating func flush(run: Int64) -> [String] {
        let keys = partial.keys.filter { $0.run == run }.sorted { $0.stream.rawValue > $1.stream.rawValue }
        return keys.compactMap { key in partial.removeValue(forKey: key).map { "\($0.label) \($0.text)" } }
    }
}
