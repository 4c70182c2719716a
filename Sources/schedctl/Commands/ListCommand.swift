import ArgumentParser
import Foundation
import SchedulerAPI

struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List jobs: NAME STATE SCHEDULE NEXT LAST RESULT.")

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Show absolute times.")
    var wide = false

    func run() async throws {
        guard let jobs = try global.request("GET", "/v1/jobs", as: [JobSummary].self) else { return }
        let rows = jobs.map { job in
            [job.name, job.state + (job.state == "paused" && job.pauseReason != "manual" ? " (\(job.pauseReason ?? ""))" : ""),
             job.schedule ?? (job.service ? "service" : "-"), Output.when(job.nextRunAt, wide: wide),
             Output.when(job.lastRun?.startedAt, wide: wide), Output.result(job.lastRun)]
        }
        print(Output.table(["NAME", "STATE", "SCHEDULE", "NEXT", "LAST", "RESULT"], rows))
    }
}
