import ArgumentParser

struct ReloadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reload", abstract: "Re-apply the daemon's --config file.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try global.requireDaemon("reload")
    }
}
