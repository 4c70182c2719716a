import ArgumentParser

struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cancel", abstract: "Stop a run (SIGTERM, grace, SIGKILL).")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "A run id, or a job name for its active run.")
    var target: String

    func run() async throws {
        try global.requireDaemon("cancel")
    }
}
