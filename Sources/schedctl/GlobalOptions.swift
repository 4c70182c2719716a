import ArgumentParser
import Foundation
import SchedulerAPI

/// Options every verb takes.
struct GlobalOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The daemon's control socket.", discussion: "Default: $SCHEDD_SOCKET, $RUNTIME_DIRECTORY/schedd.sock, /run/schedd/schedd.sock for root, $XDG_RUNTIME_DIR/schedd/schedd.sock, else /tmp/schedd-$UID/schedd.sock.", valueName: "path"))
    var socket: String?

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    var socketPath: String {
        socket ?? DefaultPaths.socket(environment: ProcessInfo.processInfo.environment)
    }

    var client: ControlClient { ControlClient(socketPath: socketPath) }

    /// Sends a request; with `--json` prints the reply as is and returns nil, otherwise
    /// decodes it for the table view.
    func request<T: Decodable>(_ method: String, _ path: String, body: [UInt8]? = nil, as type: T.Type, timeout: Int = 60) throws -> T? {
        let reply = try client.send(method, path, body: body, timeout: timeout)
        guard (200..<300).contains(reply.status) else { throw ControlClient.failure(reply) }
        if json {
            Output.printJSON(bytes: reply.body)
            return nil
        }
        do {
            return try APICoding.decoder().decode(T.self, from: Data(reply.body))
        } catch {
            throw CommandFailure(message: "schedd's reply could not be read: \(error)", exitCode: 1)
        }
    }
}
