import ArgumentParser

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Trigger a job now.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The job.")
    var name: String

    @Flag(help: "Stream its output and exit with the run's status.")
    var wait = false

    @Flag(help: "Start even if concurrency forbids it.")
    var force = false

    func run() async throws {
        try global.requireDaemon("run")
    }
}
