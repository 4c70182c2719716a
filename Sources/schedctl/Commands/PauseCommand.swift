import ArgumentParser
import Foundation
import SchedulerAPI

struct PauseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pause", abstract: "Stop firing a job; its retries wait for the resume.", discussion: "Its fires waiting for a worker are recorded skipped, and another job's on_failure/on_success does not start it; its runs going on are left to end. `schedctl run` still runs it by hand.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The job.", completion: JobNameCompletion.kind, transform: JobNameArgument.parse)
    var name: String

    func run() async throws {
        guard let detail = try global.request("POST", "/v1/jobs/\(ControlClient.escape(name))/pause", as: JobDetail.self) else { return }
        print("\(name): \(detail.summary.state)")
        // A pause stops the firing, not what runs (a service aside, which it stops): said, as
        // one may take it for a stop.
        if !detail.summary.service, let run = detail.summary.lastRun, run.status == .running {
            FileHandle.standardError.write(Data("schedctl: note: run \(run.id) of \(name) goes on to its end (`schedctl cancel \(name)` stops it)\n".utf8))
        }
    }
}
