import ArgumentParser

struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logs", abstract: "Show a run's captured output.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "A run id, or a job name for its last run.")
    var target: String

    @Flag(help: "Follow a running run to its end.")
    var follow = false

    func run() async throws {
        try global.requireDaemon("logs")
    }
}
