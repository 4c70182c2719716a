import ArgumentParser
import Foundation
import SchedulerAPI

struct PauseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pause", abstract: "Stop firing a job; its retries wait for the resume.", discussion: "Its fires waiting for a worker are recorded skipped, and another job's on_failure/on_success does not start it; its runs going on are left to end. `schedctl run` still runs it by hand.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The jobs: names, or shell patterns (quoted: 'db-*').", completion: JobNameCompletion.kind, transform: JobNameArgument.parse)
    var names: [String]

    func run() async throws {
        let targets = try JobTargets.resolve(names, global)
        try JobTargets.each(targets, global, "POST", path: { "/v1/jobs/\($0)/pause" }, as: JobDetail.self) { name, detail in
            print("\(name): \(detail.summary.state)")
            // A pause stops the firing, not what runs (a service aside, which it stops): said, as
            // one may take it for a stop.
            if !detail.summary.service, let run = detail.summary.lastRun, run.status == .running {
                FileHandle.standardError.write(Data("schedctl: note: run \(run.id) of \(name) goes on to its end (`schedctl cancel \(name)` stops it)\n".utf8))
            }
        }
    }
}
