import ArgumentParser

struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export", abstract: "Print the current jobs as a job file (round-trips with apply).")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try global.requireDaemon("export")
    }
}
