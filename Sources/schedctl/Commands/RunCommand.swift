import ArgumentParser
import Foundation
import SchedulerAPI

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Trigger a job now.",
        discussion: "With --wait, prints the run's output as it is printed and exits with its status: the job's exit code, 124 on timeout, 128+N when killed by signal N.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The job.", completion: JobNameCompletion.kind, transform: JobNameArgument.parse)
    var name: String

    @Flag(help: "Stream the run's output live and exit with its status.")
    var wait = false

    @Flag(help: "Start even if the job's concurrency policy forbids it.")
    var force = false

    func run() async throws {
        let client = global.client
        let reply = try client.send("POST", "/v1/jobs/\(ControlClient.escape(name))/run?force=\(force)", timeout: 3600)
        guard (200..<300).contains(reply.status) else { throw ControlClient.failure(reply) }
        let trigger = try APICoding.decoder().decode(TriggerResponse.self, from: Data(reply.body))
        if trigger.outcome == "skipped" {
            if global.json { Output.printJSON(bytes: reply.body) }
            // --force passes only the job's concurrency policy: not a running service, the
            // bound of waiting runs, or what the job requires.
            let reason = trigger.run.error ?? "skipped"
            let hint = !force && reason.hasSuffix("(concurrency: forbid)") ? "; --force starts it anyway" : ""
            throw CommandFailure(message: "\(name): \(reason) (run \(trigger.run.id)\(hint))", exitCode: 1)
        }
        let queued = trigger.outcome == "queued"
        guard wait else {
            if global.json {
                Output.printJSON(bytes: reply.body)
            } else if queued {
                print("queued \(name): run \(trigger.run.id), for the node the job is pinned to")
            } else {
                print("started \(name): run \(trigger.run.id)")
            }
            return
        }
        // A run queued for another node streams the same way: that node writes its output to
        // the database while it is followed, and this node reads it from there.
        var follower = RunFollower(client: client, runID: trigger.run.id, printOutput: !global.json)
        // As if the job ran here: its stdout to stdout, its stderr to stderr.
        follower.stderrToStderr = true
        let run = try follower.follow()
        if global.json {
            Output.printJSON(bytes: Array(try APICoding.encoder().encode(run)))
        } else {
            if follower.printed > 0, let output = run.output, !output.isEmpty, !output.hasSuffix("\n") { print() }
            if !run.status.isFinal {
                throw CommandFailure(message: "\(name) run \(run.id): schedd stopped answering before the run ended", exitCode: 1)
            }
            if run.status != .succeeded {
                FileHandle.standardError.write(Data("schedctl: \(name) run \(run.id): \(run.status.rawValue)\(run.error.map { ": \($0)" } ?? "")\n".utf8))
            }
        }
        throw ExitCode(Self.exitCode(run))
    }

    static func exitCode(_ run: RunRecord) -> Int32 {
        switch run.status {
        case .succeeded: return 0
        case .timedOut: return 124
        case .failed:
            if let signal = run.signal { return 128 + signal }
            return run.exitCode.map { $0 == 0 ? 1 : $0 } ?? 1
        default: return 1
        }
    }
}
