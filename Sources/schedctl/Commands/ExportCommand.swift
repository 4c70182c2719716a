import ArgumentParser
import SchedulerAPI

struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export", abstract: "Print the current jobs as a job file (round-trips with apply).")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let reply = try global.client.send("GET", "/v1/export")
        guard (200..<300).contains(reply.status) else { throw ControlClient.failure(reply) }
        print(String(decoding: reply.body, as: UTF8.self), terminator: "")
    }
}
