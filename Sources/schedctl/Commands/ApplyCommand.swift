import ArgumentParser

struct ApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "apply", abstract: "Create or update the jobs of a file, atomically.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The job file.")
    var file: String

    @Flag(help: "Remove jobs that are not in the file.")
    var prune = false

    @Flag(help: "Only print what would change.")
    var dryRun = false

    func run() async throws {
        try global.requireDaemon("apply")
    }
}
