import ArgumentParser
import Foundation
import SchedulerAPI

struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Print the current jobs as a job file (round-trips with apply).",
        discussion: """
            Where the jobs come from (the daemon's --config file, or the API) is said on \
            stderr, so that stdout stays a job file. With --origin api, only the jobs created \
            over the API: the ones `schedctl apply` may change when schedd runs with --config.
            """)

    @OptionGroup var global: GlobalOptions

    @Option(help: "Only the jobs of this origin: file or api.")
    var origin: String?

    func validate() throws {
        if let origin, JobOrigin.Kind(rawValue: origin) == nil { throw ValidationError("--origin \"\(origin)\" is not one of file, api") }
    }

    func run() async throws {
        let reply = try global.client.send("GET", "/v1/export" + (origin.map { "?origin=\($0)" } ?? ""))
        guard (200..<300).contains(reply.status) else { throw ControlClient.failure(reply) }
        print(String(decoding: reply.body, as: UTF8.self), terminator: "")
        if let jobs = try? global.client.send("GET", "/v1/jobs"), let list = try? APICoding.decoder().decode([JobSummary].self, from: Data(jobs.body)) {
            var counts: [String: Int] = [:]
            for job in list where origin == nil || job.origin?.kind.rawValue == origin {
                counts[job.origin.map { $0.kind == .file ? "the file \($0.detail ?? "?")" : "the API" } ?? "unknown", default: 0] += 1
            }
            let text = counts.sorted { $0.key < $1.key }.map { "\(Output.count($0.value, "job")) from \($0.key)" }.joined(separator: ", ")
            if !text.isEmpty { FileHandle.standardError.write(Data("schedctl: exported \(text)\n".utf8)) }
        }
    }
}
