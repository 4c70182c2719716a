import ArgumentParser
import SchedulerAPI

struct ResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resume", abstract: "Resume a job; also clears a failure threshold or a failed service.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The job.", completion: JobNameCompletion.kind, transform: JobNameArgument.parse)
    var name: String

    func run() async throws {
        guard let detail = try global.request("POST", "/v1/jobs/\(ControlClient.escape(name))/resume", as: JobDetail.self) else { return }
        print("\(name): \(detail.summary.state)")
    }
}
