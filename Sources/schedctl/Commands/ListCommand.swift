import ArgumentParser

struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List jobs: NAME STATE SCHEDULE NEXT LAST RESULT.")

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Show absolute times.")
    var wide = false

    func run() async throws {
        try global.requireDaemon("list")
    }
}
