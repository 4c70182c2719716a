import ArgumentParser
import SchedulerAPI

struct RemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "remove", abstract: "Delete a job; its history stays.", discussion: "A run of it going on goes on to its end (a service's is stopped); what of it has not started (runs waiting for a worker, retries waiting for their time) is recorded skipped.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The job.", completion: JobNameCompletion.kind, transform: JobNameArgument.parse)
    var name: String

    func run() async throws {
        guard try global.request("DELETE", "/v1/jobs/\(ControlClient.escape(name))", as: [String: String].self) != nil else { return }
        print("removed \(name)")
    }
}
