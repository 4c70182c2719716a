import ArgumentParser

struct StartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "start", abstract: "Start a stopped service (a paused or failed one: `resume`).")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The service.", completion: JobNameCompletion.kind, transform: JobNameArgument.parse)
    var name: String

    func run() async throws {
        try ServiceVerb.send("start", to: name, global)
    }
}
