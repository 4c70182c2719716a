import ArgumentParser

struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "events", abstract: "Stream live run events.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try global.requireDaemon("events")
    }
}
