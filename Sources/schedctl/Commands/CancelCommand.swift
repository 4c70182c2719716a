import ArgumentParser
import SchedulerAPI

struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel", abstract: "Stop a run (SIGTERM, grace, SIGKILL).",
        discussion: "Given a job, stops its active runs and drops what of it has not started: retries, runs waiting for a worker or for what they require, missed times waiting their turn (each recorded as skipped); its schedule goes on (pause stops it). Given a failed run whose retry has not started, drops that retry.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "A run id (an active run, or a failed one for its waiting retry), or a job name for its active runs and what waits to start.", completion: JobNameCompletion.kind, transform: JobNameArgument.parse)
    var target: String

    func run() async throws {
        let path = Int64(target) != nil ? "/v1/runs/\(target)/cancel" : "/v1/jobs/\(ControlClient.escape(target))/cancel"
        guard let result = try global.request("POST", path, as: CancelResponse.self) else { return }
        let ids = result.cancelled
        let retries = result.retriesSkipped
        let waiting = result.waitingSkipped ?? []
        let starting = result.starting ?? 0
        let whose = Int64(target) != nil ? "run \(target)" : target
        if !ids.isEmpty { print("cancelling run\(ids.count == 1 ? "" : "s") \(ids.map(String.init).joined(separator: ", "))") }
        if starting > 0 {
            print("\(whose): cancelling \(starting == 1 ? "a run" : "\(starting) runs") whose start was being written (recorded cancelled as \(starting == 1 ? "it begins" : "they begin"))")
        }
        if !retries.isEmpty {
            print("\(whose): \(retries.count == 1 ? "its retry" : "\(retries.count) retries") that had not started will not run (recorded skipped: run \(retries.map(String.init).joined(separator: ", ")))")
        }
        if !waiting.isEmpty {
            print("\(whose): \(waiting.count == 1 ? "its run" : "\(waiting.count) runs") waiting to start will not run (recorded skipped: run \(waiting.map(String.init).joined(separator: ", ")))")
        }
        if ids.isEmpty && retries.isEmpty && waiting.isEmpty && starting == 0 { print("\(target): no active run and nothing waiting to start") }
    }
}
