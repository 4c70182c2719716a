import ArgumentParser

struct HistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "history", abstract: "Show past runs, newest first.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Only this job.")
    var name: String?

    @Option(help: "At most this many runs.")
    var limit: Int = 50

    @Option(help: "Only runs with this status.")
    var status: String?

    @Option(help: "Only runs started within this duration (e.g. 24h).")
    var since: String?

    func run() async throws {
        try global.requireDaemon("history")
    }
}
