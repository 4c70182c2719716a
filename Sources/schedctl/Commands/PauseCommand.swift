import ArgumentParser

struct PauseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pause", abstract: "Stop firing a job.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The job.")
    var name: String

    func run() async throws {
        try global.requireDaemon("pause")
    }
}
