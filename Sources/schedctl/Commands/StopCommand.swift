import ArgumentParser

struct StopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stop", abstract: "Stop a service (what requires it first) until `start` or `restart`; not stored: the daemon's next start starts it.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The service.", completion: JobNameCompletion.kind, transform: JobNameArgument.parse)
    var name: String

    func run() async throws {
        try ServiceVerb.send("stop", to: name, global)
    }
}
