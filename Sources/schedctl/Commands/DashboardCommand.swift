import ArgumentParser
import Foundation
import SchedulerAPI
#if canImport(Glibc)
import Glibc
#endif

struct DashboardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard", abstract: "Open schedd's dashboard in a browser.",
        discussion: """
            Listens on 127.0.0.1 (a free port unless --port), prints the address with a one-time \
            token, and passes the browser's requests to schedd's socket as you: the page shows and \
            does what your user may. Without the token the answer is 403. It stops when schedctl \
            stops (Ctrl-C).
            """)

    @OptionGroup var global: GlobalOptions

    @Option(help: "The local port (default: one the system picks).")
    var port: Int = 0

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0-65535") }
    }

    func run() throws {
        // Reachable and allowed, or the usual error (exit 3, 1) before anything listens.
        let reply = try global.client.send("GET", "/v1/status", body: nil, timeout: 10)
        guard (200..<300).contains(reply.status) else { throw ControlClient.failure(reply) }
        var bytes = [UInt8](repeating: 0, count: 24)
        var generator = SystemRandomNumberGenerator()
        for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255, using: &generator) }
        let token = bytes.map { String(format: "%02x", $0) }.joined()
        // It stops on a signal only: one its parent left blocked would keep it running for ever.
        var stops = sigset_t()
        sigemptyset(&stops)
        for signal in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&stops, signal) }
        pthread_sigmask(SIG_UNBLOCK, &stops, nil)
        let proxy = try DashboardProxy(port: port, token: token, socketPath: global.socketPath)
        print("schedd dashboard: http://127.0.0.1:\(proxy.port)/?token=\(token)")
        print("(it acts as your user on \(global.socketPath); Ctrl-C stops it)")
        fflush(nil)
        proxy.serve()
    }
}
