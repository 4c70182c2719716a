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

    /// Online verbs need the control API, which this build of schedd does not serve yet.
    func requireDaemon(_ verb: String) throws -> Never {
        throw CommandFailure(
            message: "\(verb) talks to schedd over \(socketPath), and this build has no control API yet; only validate and next work",
            exitCode: 1)
    }
}
