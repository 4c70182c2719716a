import ArgumentParser

struct ResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resume", abstract: "Resume a job; also clears a failure threshold or a failed service.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The job.")
    var name: String

    func run() async throws {
        try global.requireDaemon("resume")
    }
}
