import ArgumentParser
import SchedulerAPI

struct RemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "remove", abstract: "Delete a job; its history stays.", discussion: "A run of it going on goes on to its end (a service's is stopped): named in the answer, and `schedctl cancel NAME` stops it; what of it has not started (runs waiting for a worker, retries waiting for their time) is recorded skipped.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The job.", completion: JobNameCompletion.kind, transform: JobNameArgument.parse)
    var name: String

    func run() async throws {
        guard let removed = try global.request("DELETE", "/v1/jobs/\(ControlClient.escape(name))", as: RemovedJob.self) else { return }
        print("removed \(name)")
        if !removed.goingOn.isEmpty {
            let runs = removed.goingOn.map { "run \($0)" }.joined(separator: ", ")
            print("\(runs) of it \(removed.goingOn.count == 1 ? "goes" : "go") on to \(removed.goingOn.count == 1 ? "its" : "their") end (`schedctl cancel \(name)` stops \(removed.goingOn.count == 1 ? "it" : "them"))")
        }
    }
}
