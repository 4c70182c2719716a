import Foundation
import SchedulerAPI

/// Follows one run to its end over `GET /v1/events?run=ID`: its output as it is printed (to
/// standard output, unchanged) and its final record. Used by `run --wait` and `logs --follow`.
struct RunFollower {
    let client: ControlClient
    let runID: Int64
    /// Print the output as it comes; otherwise just wait for the end.
    let printOutput: Bool
    /// Print only this stream's output.
    var only: StandardStream? = nil
    /// Print stderr's output to schedctl's stderr (as `run --wait` does), not to stdout.
    var stderrToStderr = false

    /// Bytes of the run's output printed so far.
    private(set) var printed: Int64 = 0

    /// The retry the daemon said it will make of the run, when it failed with attempts left.
    private(set) var retry: RetryStatus?

    /// Where the run's final result is applied, when the daemon said it waits (the run ended
    /// as schedd stopped).
    private(set) var finalResultDeferred: FinalResultPlace?

    /// Why the run's end paused its job (`failure_threshold`), when the daemon said it does.
    private(set) var pausedJob: String?

    /// The job the run's end triggers, and the field that names it, when the daemon said so.
    private(set) var followUp: (field: String, target: String)?

    init(client: ControlClient, runID: Int64, printOutput: Bool) {
        self.client = client
        self.runID = runID
        self.printOutput = printOutput
    }

    /// Streams until the run ends and returns its final record. A stream that breaks off
    /// while the run goes on is opened again (what arrives twice is cut by its offset); if
    /// the daemon goes away, the run's record as stored is returned (still `running`).
    mutating func follow() throws -> RunRecord {
        var failures = 0
        while true {
            var final: RunRecord?
            let before = printed
            let decoder = APICoding.decoder()
            try client.stream("GET", "/v1/events?run=\(runID)&output=\(printOutput)") { data in
                guard let message = try? decoder.decode(EventMessage.self, from: Data(data.utf8)) else { return true }
                switch message.type {
                case "run_output":
                    write(message)
                    return true
                case "retry_scheduled":
                    retry = message.retry
                    return true
                case "final_result_deferred":
                    finalResultDeferred = message.reason.flatMap(FinalResultPlace.init(rawValue:)) ?? .nextStart
                    return true
                case "job_paused":
                    pausedJob = message.reason
                    return true
                case "follow_up":
                    if let field = message.reason, let target = message.target { followUp = (field, target) }
                    return true
                case "run_finished":
                    final = message.run
                    return false
                default:
                    return true
                }
            }
            let run = try final ?? client.call("GET", "/v1/runs/\(runID)", as: RunRecord.self)
            if run.status.isFinal {
                // A run that ended before the stream began has its output only in its record.
                if printOutput, printed == 0, let output = run.output, !output.isEmpty {
                    if run.outputTruncated { note("[earlier output dropped: only the last part is kept (output_limit)]") }
                    for (index, (stream, text)) in OutputSegment.parts(of: output, segments: run.outputStreams).enumerated() {
                        // The kept tail begins where the limit cut the output, likely inside a line.
                        emit(index == 0 && run.outputTruncated ? "…" + text : text, stream)
                    }
                }
                return run
            }
            failures = printed > before ? 0 : failures + 1
            if failures >= 3 { return run }
            usleep(100_000)
        }
    }

    private mutating func write(_ message: EventMessage) {
        guard printOutput, let text = message.output, let offset = message.offset else { return }
        let length = Int64(message.length ?? text.utf8.count)
        guard offset + length > printed else { return }
        let stream = message.stream ?? .stdout
        if offset > printed {
            note(printed == 0 ? "[earlier output dropped: only the last part is kept (output_limit)]"
                              : "[\(offset - printed) bytes of output missed: this client was too slow]")
            // What follows the gap begins inside a line as likely as not.
            emit("…" + text, stream)
        } else {
            // Part of it was printed already (a stream opened again): only the rest.
            emit(String(decoding: Array(text.utf8).dropFirst(Int(printed - offset)), as: UTF8.self), stream)
        }
        printed = offset + length
    }

    private func emit(_ text: String, _ stream: StandardStream) {
        if let only, stream != only { return }
        let handle = stderrToStderr && stream == .stderr ? FileHandle.standardError : FileHandle.standardOutput
        handle.write(Data(text.utf8))
    }

    private func note(_ text: String) {
        FileHandle.standardError.write(Data("schedctl: \(text)\n".utf8))
    }
}
