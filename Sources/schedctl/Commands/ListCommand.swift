import ArgumentParser
import Foundation
import SchedulerAPI

struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List jobs: NAME STATE SCHEDULE NEXT LAST RESULT (and ORIGIN with --wide).")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Only the jobs whose names match: a name, or a shell pattern (quoted: 'backup-*', 'alice/*').",
              completion: JobNameCompletion.kind)
    var patterns: [String] = []

    @Option(help: "Only the jobs in this state: \(Self.states.joined(separator: ", ")).")
    var state: String?

    @Flag(help: "Show absolute times and where each job is defined.")
    var wide = false

    /// The words of `JobSummary.state`, a service's included (docs/openapi.yaml).
    static let states = ["active", "paused", "failed", "disabled", "invalid", "elsewhere",
                         "starting", "ready", "stopping", "waiting", "restarting", "stopped"]

    func validate() throws {
        if let state, !Self.states.contains(state) {
            let hint = NearMiss.suggest(state, among: Self.states).map { " (did you mean \"\($0)\"?)" } ?? ""
            throw ValidationError("--state \"\(state)\" is not a state\(hint): one of \(Self.states.joined(separator: ", "))")
        }
    }

    func shown(name: String, state jobState: String) -> Bool {
        (state == nil || jobState == state) && (patterns.isEmpty || patterns.contains { JobTargets.matches($0, name) })
    }

    func run() async throws {
        let reply = try global.client.send("GET", "/v1/jobs")
        guard (200..<300).contains(reply.status) else { throw ControlClient.failure(reply) }
        if global.json {
            // Filtered as it came: fields this schedctl does not know stay.
            guard case let .array(all) = try? JSONParser.parse(reply.body) else { return Output.printJSON(bytes: reply.body) }
            return Output.printJSON(.array(all.filter { job in
                guard case let .string(name)? = job["name"], case let .string(state)? = job["state"] else { return true }
                return shown(name: name, state: state)
            }))
        }
        let all: [JobSummary]
        do {
            all = try APICoding.decoder().decode([JobSummary].self, from: Data(reply.body))
        } catch {
            throw CommandFailure(message: "schedd's reply could not be read: \(error)", exitCode: 1)
        }
        let jobs = all.filter { shown(name: $0.name, state: $0.state) }
        // As `history` says "no runs": a header alone reads as an answer cut off.
        guard !jobs.isEmpty else {
            let names = patterns.isEmpty ? "" : " matching " + patterns.joined(separator: " or ")
            let filter = names + (state.map { " in state \($0)" } ?? "")
            return print(all.isEmpty || filter.isEmpty ? "no jobs" : "no jobs\(filter) (of \(all.count))")
        }
        let now = Date()
        let rows = jobs.map { job in
            // What makes a definition invalid is a sentence or more: `show` and `status` give it.
            let reason = job.state == "paused" && job.reason == "manual" ? nil
                : job.state == "invalid" && !wide ? "schedctl show \(job.name) says why" : job.reason
            var row = [job.name, job.state + (reason.map { " (\($0))" } ?? ""),
                       job.schedule ?? (job.service ? "service" : "-"),
                       job.queued.map { "\($0) waiting for a worker" } ?? job.waitsFor.map { "a run waits: \($0)" } ?? Output.when(job.nextRunAt, wide: wide),
                       Output.when(job.lastRun?.startedAt, wide: wide), Self.result(job, now: now)]
            if wide { row.insert(job.origin.map { $0.kind == .file ? "file" : "api" } ?? "-", at: 5) }
            return row
        }
        print(Output.table(["NAME", "STATE", "SCHEDULE", "NEXT", "LAST"] + (wide ? ["ORIGIN"] : []) + ["RESULT"], rows))
    }

    /// A running service shows its process: `running (pid 4242, up 3h 5m)`.
    static func result(_ job: JobSummary, now: Date) -> String {
        if job.service, let run = job.lastRun, run.status == .running, let pid = run.pid {
            // In a cluster the pid is the node's: said with it.
            return "running (\(run.node.map { "on \($0), " } ?? "")pid \(pid), up \(Output.span(now.timeIntervalSince(run.startedAt))))"
        }
        return Output.result(job.lastRun)
    }
}
