import ArgumentParser

struct StopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stop", abstract: "Stop a service (what requires it first) until `start` or `restart`; not stored: the daemon's next start starts it.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp(ServiceVerb.help), completion: JobNameCompletion.kind, transform: JobNameArgument.parse)
    var names: [String]

    func run() async throws {
        try ServiceVerb.send("stop", to: names, global)
    }
}
