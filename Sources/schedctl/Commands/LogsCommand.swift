import ArgumentParser
import Foundation
import SchedulerAPI

struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logs", abstract: "Show a run's captured output: stdout and stderr in the order they were written.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "A run id, or a job name for its last run that ran (a running service's, say, rather than a trigger skipped since).", completion: JobNameCompletion.kind, transform: JobNameArgument.parse)
    var target: String

    @Flag(name: .shortAndLong, help: "Stream a running run's output live until it ends (a job's ended run: its output, and what follows the next runs).")
    var follow = false

    @Flag(help: "Only what the run wrote to its standard output.")
    var stdout = false

    @Flag(help: "Only what the run wrote to its standard error.")
    var stderr = false

    func validate() throws {
        if stdout && stderr { throw ValidationError("--stdout and --stderr exclude each other: without either, both are shown in order") }
    }

    var only: StandardStream? { stdout ? .stdout : stderr ? .stderr : nil }

    /// The job's newest run that ran: the rows of triggers skipped since (a `forbid` job's
    /// fires while its run goes on, `schedctl run` of a running service) have no output to
    /// show. The newest skipped one when none ran, for why.
    static func lastRun(of job: String, client: ControlClient) throws -> Int64 {
        var newest: Int64?
        var cursor: Int64?
        // A job keeps --history-keep runs (1,000 by default): ten pages of them at most.
        for _ in 0..<10 {
            let page = try client.call("GET", "/v1/runs?limit=100&job=\(ControlClient.escape(job))" + (cursor.map { "&before=\($0)" } ?? ""),
                                       as: RunPage.self)
            newest = newest ?? page.runs.first?.id
            if let ran = page.runs.first(where: { $0.status != .skipped }) { return ran.id }
            guard let next = page.nextCursor else { break }
            cursor = next
        }
        guard let newest else { throw CommandFailure(message: "\(job): no runs", exitCode: 1) }
        return newest
    }

    func run() async throws {
        let client = global.client
        var id = Int64(target)
        if id == nil { id = try Self.lastRun(of: target, client: client) }
        if follow && !global.json {
            // A job whose last run has ended: what its name asks to follow is the runs to come,
            // as `journalctl -f -u` would; `events` follows them, this run's output is all here.
            let ended = try Int64(target) == nil && client.call("GET", "/v1/runs/\(id!)", as: RunRecord.self).status.isFinal
            var follower = RunFollower(client: client, runID: id!, printOutput: true)
            follower.only = only
            let run = try follower.follow()
            if follower.printed > 0, let output = run.output, !output.isEmpty, !output.hasSuffix("\n") { print() }
            if ended {
                FileHandle.standardError.write(Data("schedctl: \(target)'s last run (\(run.id)) had ended: this is its output; `schedctl events --job \(target) --output` follows the runs to come\n".utf8))
            }
            return
        }
        var run = try client.call("GET", "/v1/runs/\(id!)", as: RunRecord.self)
        if follow && !run.status.isFinal {
            var follower = RunFollower(client: client, runID: id!, printOutput: false)
            run = try follower.follow()
        }
        if global.json {
            Output.printJSON(bytes: Array(try APICoding.encoder().encode(run)))
            return
        }
        if run.outputTruncated { print("[… earlier output dropped: only the last part is kept (output_limit)]") }
        if var output = run.output {
            let first = OutputSegment.parts(of: output, segments: run.outputStreams).first?.stream
            if let only { output = OutputSegment.text(of: output, segments: run.outputStreams, stream: only) }
            // The kept tail begins where the limit cut the output, inside a line as likely as not.
            if run.outputTruncated, !output.isEmpty, only == nil || first == only { output = "…" + output }
            print(output, terminator: output.hasSuffix("\n") || output.isEmpty ? "" : "\n")
        }
        if !run.status.isFinal { FileHandle.standardError.write(Data("schedctl: run \(run.id) is still running; this is its output so far (--follow streams the rest)\n".utf8)) }
        // How it ended, where the output alone does not say: why a run was skipped (it has no
        // output at all), what stopped one that timed out or could not start.
        if run.status.isFinal, run.status != .succeeded, run.error != nil {
            FileHandle.standardError.write(Data("schedctl: \(run.job) run \(run.id): \(RunCommand.describe(run))\n".utf8))
        }
    }
}
