import ArgumentParser
import SchedulerAPI

struct ResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resume", abstract: "Resume a job; also clears a failure threshold or a failed service.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The jobs: names, or shell patterns (quoted: 'db-*').", completion: JobNameCompletion.kind, transform: JobNameArgument.parse)
    var names: [String]

    func run() async throws {
        let targets = try JobTargets.resolve(names, global)
        try JobTargets.each(targets, global, "POST", path: { "/v1/jobs/\($0)/resume" }, as: JobDetail.self) { name, detail in
            print("\(name): \(detail.summary.state)")
        }
    }
}
