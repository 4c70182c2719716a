import ArgumentParser

struct StartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "start", abstract: "Start a stopped service (a paused or failed one: `resume`).")

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp(ServiceVerb.help), completion: JobNameCompletion.kind, transform: JobNameArgument.parse)
    var names: [String]

    func run() async throws {
        try ServiceVerb.send("start", to: names, global)
    }
}
