import ArgumentParser
import SchedulerAPI

struct ReloadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reload", abstract: "Re-apply the daemon's --config file.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        guard let result = try global.request("POST", "/v1/reload", as: ApplyResult.self) else { return }
        ApplyCommand.printResult(result)
    }
}
