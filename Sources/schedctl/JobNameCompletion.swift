import ArgumentParser
import Foundation
import SchedulerAPI

/// Shell completion of job names: asks the daemon (on the socket the command line names, or
/// the default one) for its jobs; nothing when it cannot be reached, so that a shell never
/// hangs on a daemon that is down.
enum JobNameCompletion {
    static let kind = CompletionKind.custom { arguments, _, prefix in names(arguments: arguments, prefix: prefix) }

    static func names(arguments: [String], prefix: String) -> [String] {
        var socket: String?
        for (index, word) in arguments.enumerated() {
            if word == "--socket", index + 1 < arguments.count { socket = arguments[index + 1] }
            if word.hasPrefix("--socket=") { socket = String(word.dropFirst("--socket=".count)) }
        }
        let client = ControlClient(socketPath: socket ?? DefaultPaths.socket(environment: ProcessInfo.processInfo.environment))
        guard let reply = try? client.send("GET", "/v1/jobs", timeout: 2), reply.status == 200,
              let jobs = try? APICoding.decoder().decode([JobSummary].self, from: Data(reply.body)) else { return [] }
        return jobs.map(\.name).filter { $0.hasPrefix(prefix) }
    }
}
