import ArgumentParser
import SchedulerAPI

struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cancel", abstract: "Stop a run (SIGTERM, grace, SIGKILL).")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "A run id, or a job name for its active runs.", completion: JobNameCompletion.kind, transform: JobNameArgument.parse)
    var target: String

    func run() async throws {
        let path = Int64(target) != nil ? "/v1/runs/\(target)/cancel" : "/v1/jobs/\(ControlClient.escape(target))/cancel"
        guard let result = try global.request("POST", path, as: [String: [Int64]].self) else { return }
        let ids = result["cancelled"] ?? []
        print(ids.isEmpty ? "\(target): no active run" : "cancelling run\(ids.count == 1 ? "" : "s") \(ids.map(String.init).joined(separator: ", "))")
    }
}
