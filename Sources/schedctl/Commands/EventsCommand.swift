import ArgumentParser

struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "events", abstract: "Stream live run events.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        throw CommandFailure(message: "events needs the event stream (GET /v1/events), which schedd does not serve yet", exitCode: 1)
    }
}
