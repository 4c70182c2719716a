import ArgumentParser

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show the daemon's version, uptime, workers, queue and jobs by state.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try global.requireDaemon("status")
    }
}
