import ArgumentParser
import Foundation
import SchedulerAPI

struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "events", abstract: "Stream live run events.",
                                                    discussion: "Prints one line per event until interrupted; --json prints each event's JSON. With --output, also each line the runs print, after the run and the stream it came from (`12:00:01.250 backup run 42 stdout: copied 3 files`). In a cluster, the events of the node asked (one run wherever it runs: `logs RUN --follow`).")

    @OptionGroup var global: GlobalOptions

    @Option(help: "Only events of this job.", completion: JobNameCompletion.kind, transform: JobNameArgument.parse)
    var job: String?

    @Flag(help: "Also print what the runs print, line by line.")
    var output = false

    func run() async throws {
        let query = (job.map { ["job=\(ControlClient.escape($0))"] } ?? []) + (output ? ["output=true"] : [])
        let path = "/v1/events" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
        let socket = global.socketPath
        var lines = OutputLines()
        try global.client.stream("GET", path, onOpen: {
            // On stderr, so that stdout stays the events; it also tells a script that the
            // subscription is in place.
            FileHandle.standardError.write(Data("schedctl: following schedd's events at \(socket) (Ctrl-C stops)\n".utf8))
            return true
        }) { data in
            if global.json {
                print(data)
            } else if let message = try? APICoding.decoder().decode(EventMessage.self, from: Data(data.utf8)) {
                if message.type == "run_output" {
                    for line in lines.add(message) { print(line) }
                } else {
                    // A run's last line without a newline, before the end it belongs to.
                    if message.type == "run_finished", let id = message.run?.id { for line in lines.flush(run: id) { print(line) } }
                    print(Self.line(message))
                }
            }
            fflush(nil)  // all streams: each event shows as it happens, even in a pipe
            return true
        }
    }

    static func line(_ m: EventMessage) -> String {
        let time = String(Timestamp.format(m.at).dropFirst(11).prefix(12))
        switch m.type {
        case "run_started":
            let cause = m.run?.triggeredByRun.map { " after run \($0)" } ?? ""
            return "\(time) \(m.job) run \(m.run?.id ?? 0) started (\(m.trigger?.rawValue ?? "?")\(cause))"
        case "run_finished":
            return "\(time) \(m.job) run \(m.run?.id ?? 0) \(Output.result(m.run)) after \(Output.duration(m.run?.durationMs))"
        case "retry_scheduled":
            let due = m.retry.map { " \(Output.when($0.dueAt, wide: false, now: m.at))" } ?? ""
            return "\(time) \(m.job) run \(m.runID ?? 0) will be retried (attempt \(m.retry?.attempt ?? 0))\(due)"
        case "final_result_deferred":
            let place = Output.place(m.reason.flatMap(FinalResultPlace.init(rawValue:)) ?? .nextStart)
            return "\(time) \(m.job) run \(m.runID ?? 0) ended as schedd stops: what follows it comes \(place)"
        case "follow_up": return "\(time) \(m.job) run \(m.runID ?? 0) triggers \(m.target ?? "?") (\(m.reason ?? "?"))"
        case "run_queued": return "\(time) \(m.job) queued (\(m.trigger?.rawValue ?? "?"))"
        case "job_paused": return "\(time) \(m.job) paused (\(m.reason ?? "manual"))\(m.runID.map { " by the failure of run \($0)" } ?? "")"
        case "dropped": return "\(time) schedd dropped this stream: \(m.reason ?? "too slow")"
        default: return "\(time) \(m.job) \(m.type.replacingOccurrences(of: "_", with: " "))"
        }
    }
}
