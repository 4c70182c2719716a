import Hummingbird
import Logging
import NIOCore
import Scheduler
import SchedulerAPI
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

/// `--metrics-listen ADDR:PORT`: the metrics over TCP for a Prometheus server, read-only and
/// nothing else: `GET /metrics` answers them, every other request 404. Off by default; whoever
/// can reach the address can read every job's name, so bind it to 127.0.0.1 or a private
/// network.
public struct MetricsListener: Service {
    let host: String
    let port: Int
    let metrics: DaemonMetrics
    let engine: JobScheduler
    let logger: Logger

    public init(host: String, port: Int, metrics: DaemonMetrics, engine: JobScheduler, logger: Logger) {
        self.host = host
        self.port = port
        self.metrics = metrics
        self.engine = engine
        self.logger = logger
    }

    public func run() async throws {
        let router = Router()
        router.get("/metrics") { [metrics, engine] _, _ -> Response in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: try await metrics.render(engine: engine))))
        }
        let logger = self.logger
        var quiet = logger
        quiet.logLevel = .warning
        let application = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in
                // The port it got: with port 0, the system chose it.
                logger.info("metrics listening", metadata: ["schedd.address": "\(channel.localAddress?.description ?? "?")",
                                                            "schedd.port": "\(channel.localAddress?.port ?? 0)"])
            },
            logger: quiet)
        do {
            try await application.run()
        } catch let error as IOError {
            // NIO's error names its system call; the operator needs the address and the reason.
            throw APIError(.internal, "cannot listen for metrics on \(host):\(port) (--metrics-listen): \(String(cString: strerror(error.errnoCode)))")
        }
    }
}
