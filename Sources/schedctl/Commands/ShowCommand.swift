import ArgumentParser

struct ShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show a job's definition, state and last runs.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The job.")
    var name: String

    func run() async throws {
        try global.requireDaemon("show")
    }
}
