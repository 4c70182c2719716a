import ArgumentParser
import SchedulerAPI

struct ReloadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reload", abstract: "Re-apply the daemon's --config file.")

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Only show what a reload would change: the file as it is now against the jobs schedd runs.")
    var dryRun = false

    func run() async throws {
        guard let result = try global.request("POST", "/v1/reload" + (dryRun ? "?dry_run=true" : ""), as: ApplyResult.self) else { return }
        ApplyCommand.printResult(result)
    }
}
