import ArgumentParser

struct NextCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "next", abstract: "Show the next fire times of a schedule (offline).")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "A cron expression, macro or @every interval.")
    var expression: String

    @Option(help: "The time zone (IANA name).")
    var tz: String?

    @Option(help: "Start from this time (ISO-8601) instead of now.")
    var from: String?

    @Option(help: "How many fire times to show.")
    var count: Int = 5

    func run() async throws {
        throw CommandFailure(message: "next is not implemented yet", exitCode: 1)
    }
}
