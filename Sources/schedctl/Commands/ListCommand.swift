import ArgumentParser
import Foundation
import SchedulerAPI

struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List jobs: NAME STATE SCHEDULE NEXT LAST RESULT (and ORIGIN with --wide).")

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Show absolute times and where each job is defined.")
    var wide = false

    func run() async throws {
        guard let jobs = try global.request("GET", "/v1/jobs", as: [JobSummary].self) else { return }
        // As `history` says "no runs": a header alone reads as an answer cut off.
        guard !jobs.isEmpty else { return print("no jobs") }
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
