import Scheduler
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOExtras
import NIOHTTP1
import NIOHTTPTypesHTTP1
import NIOPosix
import SchedulerAPI
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

/// The control API: HTTP/1.1 + JSON on a Unix socket, under `/v1`. Every connection's peer is
/// checked (`SO_PEERCRED`). Connections are served on NIO's event loops: a cached job list is
/// answered there (`ControlConnectionHandler`); the first other request hands the connection
/// to Hummingbird's router, on a task of its own that only awaits the engine's quick calls
/// and the database, so no request can hold up the scheduler.
///
/// The server is NIO's bootstrap with Hummingbird's HTTP/1.1 handlers rather than
/// Hummingbird's `Application`, whose server starts a task for every connection before its
/// first request is read: with clients that connect once per request (`schedctl`, `curl`)
/// that task was most of the cost of answering (docs/performance.md).
public struct ControlServer: Service {
    public struct Configuration: Sendable {
        public var socketPath: String
        /// Who may do what; the socket is created `0660` with the admin group, `0666` when
        /// users are allowed (every connection is checked).
        public var access: AccessPolicy
        /// Closes connections idle this long, including a client that sent half a request.
        public var idleTimeout: Duration
        /// The `--config` file that `reload` re-applies, if any, and how its last reload went.
        public var jobFile: JobFileReloads?
        public var configPath: String? { jobFile?.path }
        /// The nodes of the cluster, for `GET /v1/nodes`; nil on a single node (SQLite).
        public var nodes: (@Sendable () async throws -> [NodeInfo])?

        public init(socketPath: String, access: AccessPolicy = AccessPolicy(), idleTimeout: Duration = .seconds(10), jobFile: JobFileReloads? = nil,
                    nodes: (@Sendable () async throws -> [NodeInfo])? = nil) {
            self.nodes = nodes
            self.socketPath = socketPath
            self.access = access
            self.idleTimeout = idleTimeout
            self.jobFile = jobFile
        }
    }

    let engine: JobScheduler
    let configuration: Configuration
    let logger: Logger
    let startedAt: Date
    let metrics: DaemonMetrics?

    /// With `metrics`, `GET /v1/metrics` answers with them.
    public init(engine: JobScheduler, configuration: Configuration, logger: Logger, startedAt: Date = Date(), metrics: DaemonMetrics? = nil) {
        self.metrics = metrics
        self.engine = engine
        self.configuration = configuration
        self.logger = logger
        self.startedAt = startedAt
    }

    /// Makes the socket's directory (`AccessPolicy.directoryMode`), refuses a directory that
    /// someone else controls (`SocketDirectory`), and a socket a live daemon is serving; a
    /// stale one (nobody answers) is removed. Its file calls and the probe of an old socket (up
    /// to 2 s on a stopped daemon's) run off the cooperative pool.
    public static func prepareSocket(_ path: String, access: AccessPolicy) async throws(APIError) {
        try await BlockingWork.run { () throws(APIError) in try prepareSocketBlocking(path, access: access) }
    }

    private static func prepareSocketBlocking(_ path: String, access: AccessPolicy) throws(APIError) {
        let group = access.adminGroup
        let parent = (path as NSString).deletingLastPathComponent
        // A bare file name is a socket in the current directory.
        let directory = parent.isEmpty ? "." : parent
        if !FileManager.default.fileExists(atPath: directory) {
            if let problem = DirectoryCreation.make(directory, mode: mode_t(access.directoryMode)) {
                throw APIError(.invalidArgument, "cannot create the socket directory \(directory): \(problem)")
            }
            if let group, chown(directory, getuid(), group) != 0 {
                throw APIError(.invalidArgument, "cannot give the socket directory \(directory) to the socket group: \(String(cString: strerror(errno)))")
            }
        }
        if let problem = SocketDirectory.daemonProblem(socketPath: path, uid: access.daemonUID) {
            throw APIError(.invalidArgument, problem)
        }
        // Only a socket is taken over: whatever else is at the path (a file given by mistake,
        // `--socket /etc/passwd`) is someone's, and stays.
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw APIError(.conflict, "\(path) exists and is \(FileKind.name(info.st_mode)), not a socket: schedd does not replace it; choose another --socket, or remove it")
        }
        if UnixSocket.isLive(path) {
            throw APIError(.conflict, "another schedd is already serving \(path); stop it first or use --socket")
        }
        unlink(path)
    }

    public func run() async throws {
        // HEAD wherever GET is (RFC 9110 asks it of every server): `curl -I` as a health check.
        let router = Router(context: ControlContext.self, options: .autoGenerateHeadEndpoints)
        let peers = PeerCheckHandler.Registry()
        let access = configuration.access
        let daemonUID = access.daemonUID
        let socketGroup = access.adminGroup
        let reader = engine.reader
        router.add(middleware: ControlMiddleware(access: access, peers: peers, logger: logger,
                                                 jobNames: { (try? await reader.jobNames()) ?? [] }))
        let routes = ControlRoutes(engine: engine, startedAt: startedAt, jobFile: configuration.jobFile, access: access,
                                   metrics: metrics, nodes: configuration.nodes, logger: logger)
        routes.register(on: router)
        let logger = self.logger
        let http1 = Self.connectionLoop(router.buildResponder(), logger: logger)

        let (connections, handOver) = AsyncStream.makeStream(of: ControlConnectionHandler.RouterChannel.self)
        let connection = ControlConnectionHandler.Source(
            freshList: { [jobList = routes.jobList, changes = engine.reader.changes] in jobList.cached(atLeast: changes.current) },
            peers: peers, access: access,
            handOver: { channel in
                if case .terminated = handOver.yield(channel) { channel.channel.close(promise: nil) }
            })
        let idleTimeout = configuration.idleTimeout
        let quiescing = ServerQuiescingHelper(group: MultiThreadedEventLoopGroup.singleton)
        let path = configuration.socketPath
        // NIO's error names its system call; the operator needs the socket and the reason.
        let server: any Channel
        do {
            server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                    }
                }
                .childChannelOption(.allowRemoteHalfClosure, value: true)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try Self.configure(channel.pipeline.syncOperations, peers: peers, idleTimeout: idleTimeout,
                                           connection: connection, logger: logger)
                    }
                }
                .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
        } catch let error as IOError {
            throw APIError(.internal, "cannot listen on the control socket \(path): \(String(cString: strerror(error.errnoCode)))")
        } catch {
            throw APIError(.internal, "cannot listen on the control socket \(path): \(error)")
        }
        // The mode comes from the umask at bind; set it explicitly.
        // Refused rather than served with the wrong access: the socket is the only way in.
        guard chmod(path, access.socketMode) == 0 else {
            throw APIError(.internal, "cannot set the mode of the control socket \(path): \(String(cString: strerror(errno)))")
        }
        if let socketGroup, chown(path, daemonUID, socketGroup) != 0 {
            throw APIError(.internal, "cannot give the control socket \(path) to its group: \(String(cString: strerror(errno)))")
        }
        logger.info("control socket ready", metadata: ["schedd.socket": "\(path)"])
        // Served all the same (admins of root's group still reach it), but said at once: the
        // clients kept out are told only "permission denied".
        if let (mode, gid) = await BlockingWork.run({ SocketDirectory.searchAttributes(socketPath: path) }),
           let out = access.keptOut(byDirectoryMode: mode, gid: gid) {
            logger.warning("the socket's directory keeps clients out: make it searchable (chmod 755; under systemd, RuntimeDirectoryMode=0755)", metadata: [
                "schedd.directory": "\(SocketDirectory.directory(of: path))", "schedd.mode": "\(SocketDirectory.octal(mode))", "schedd.kept_out": "\(out)",
            ])
        }

        // Stops accepting, lets each connection finish the request it is in, then ends the
        // stream of connections handed to the router.
        let stop: @Sendable () -> Void = {
            let closed = server.eventLoop.makePromise(of: Void.self)
            quiescing.initiateShutdown(promise: closed)
            closed.futureResult.whenComplete { _ in handOver.finish() }
        }
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await withDiscardingTaskGroup { group in
                    for await channel in connections {
                        group.addTask { await http1.handle(value: channel, logger: logger) }
                    }
                }
            } onCancel: {
                stop()
            }
        } onGracefulShutdown: {
            stop()
        }
        try? await server.close()
        unlink(path)
        logger.info("control socket closed", metadata: ["schedd.socket": "\(path)"])
    }

    /// Hummingbird's connection loop answering with the router: what its `Application` builds,
    /// less request ids.
    static func connectionLoop(_ responder: RouterResponder<ControlContext>, logger: Logger) -> HTTP1Channel {
        HTTP1Channel(responder: { request, writer, channel in
            let context = ControlContext(source: .init(channel: channel, logger: logger))
            var response: Response
            do {
                response = try await responder.respond(to: request, context: context)
            } catch let error as HTTPParserError {
                throw error
            } catch {
                // ControlMiddleware turns every error into an answer; this is its backstop.
                response = Response(status: .internalServerError)
            }
            response.headers[.date] = HTTPDate.now()
            try await writer.write(response: response.head, body: response.body)
        })
    }

    /// A connection's pipeline: HTTP/1.1 as Hummingbird's `HTTP1Channel` sets it up, the peer's
    /// credentials read once, idle and shutdown handling, then `ControlConnectionHandler`.
    static func configure(_ pipeline: ChannelPipeline.SynchronousOperations, peers: PeerCheckHandler.Registry,
                          idleTimeout: Duration, connection: ControlConnectionHandler.Source, logger: Logger) throws {
        // Hummingbird's own limits, as its HTTP1Channel would set them.
        let decoder = HTTP1Channel.Configuration.DecoderConfiguration()
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderFieldSize = decoder.maxHeaderFieldSize
        limits.maxHeaderListSize = decoder.maxHeaderListSize
        limits.maxHeaderFieldCount = decoder.maxHeaderFieldCount
        try pipeline.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: false,
                                                 withOutboundHeaderValidation: false, withEncoderConfiguration: .init(),
                                                 withDecoderLimitConfiguration: limits)
        try pipeline.addHandler(HTTP1ToHTTPServerCodec(secure: false))
        try pipeline.addHandler(PeerCheckHandler(registry: peers))
        try pipeline.addHandler(HTTPConnectionStateHandler(idleTimeout: idleTimeout, logger: logger))
        try pipeline.addHandler(ControlConnectionHandler(source: connection))
    }
}
