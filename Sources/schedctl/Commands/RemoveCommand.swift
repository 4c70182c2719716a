import ArgumentParser

struct RemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "remove", abstract: "Delete a job; its history stays.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The job.")
    var name: String

    func run() async throws {
        try global.requireDaemon("remove")
    }
}
