import ArgumentParser

struct RestartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "restart", abstract: "Stop a service (SIGTERM, kill_grace) and start it again at once; one that is down is started.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp(ServiceVerb.help), completion: JobNameCompletion.kind, transform: JobNameArgument.parse)
    var names: [String]

    func run() async throws {
        try ServiceVerb.send("restart", to: names, global)
    }
}
