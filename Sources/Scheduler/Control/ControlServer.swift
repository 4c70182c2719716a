import Foundation
import Hummingbird
import Logging
import NIOCore
import SchedulerAPI
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

/// The control API: HTTP/1.1 + JSON on a Unix socket, under `/v1`. Every connection's peer is
/// checked (`SO_PEERCRED`); each request runs on its own task and only awaits the engine's
/// quick calls and the database, so no request can hold up the scheduler.
public struct ControlServer: Service {
    public struct Configuration: Sendable {
        public var socketPath: String
        /// Members of this group may connect (the socket is created `0660` with it).
        public var socketGroup: gid_t?
        /// Closes connections idle this long, including a client that sent half a request.
        public var idleTimeout: Duration
        /// The `--config` file that `reload` re-applies, if any.
        public var configPath: String?

        public init(socketPath: String, socketGroup: gid_t? = nil, idleTimeout: Duration = .seconds(10), configPath: String? = nil) {
            self.socketPath = socketPath
            self.socketGroup = socketGroup
            self.idleTimeout = idleTimeout
            self.configPath = configPath
        }
    }

    let engine: JobScheduler
    let configuration: Configuration
    let logger: Logger
    let startedAt: Date

    public init(engine: JobScheduler, configuration: Configuration, logger: Logger, startedAt: Date = Date()) {
        self.engine = engine
        self.configuration = configuration
        self.logger = logger
        self.startedAt = startedAt
    }

    /// Makes the socket's directory (`0750`) and refuses a socket a live daemon is serving; a
    /// stale one (nobody answers) is removed.
    public static func prepareSocket(_ path: String, group: gid_t?) throws(APIError) {
        let parent = (path as NSString).deletingLastPathComponent
        // A bare file name is a socket in the current directory.
        let directory = parent.isEmpty ? "." : parent
        if !FileManager.default.fileExists(atPath: directory) {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o750])
            } catch {
                throw APIError(.invalidArgument, "cannot create the socket directory \(directory): \(error.localizedDescription)")
            }
            if let group { _ = chown(directory, getuid(), group) }
        }
        guard FileManager.default.fileExists(atPath: path) else { return }
        if UnixSocket.isLive(path) {
            throw APIError(.conflict, "another schedd is already serving \(path); stop it first or use --socket")
        }
        unlink(path)
    }

    public func run() async throws {
        let router = Router(context: ControlContext.self)
        let peers = PeerCheckHandler.Registry()
        router.add(middleware: ControlMiddleware(daemonUID: getuid(), socketGroup: configuration.socketGroup, peers: peers, logger: logger))
        ControlRoutes(engine: engine, startedAt: startedAt, configPath: configuration.configPath).register(on: router)
        let path = configuration.socketPath
        let group = configuration.socketGroup
        let logger = self.logger
        let idle = configuration.idleTimeout
        let app = Application(
            router: router,
            server: .http1(configuration: .init(additionalChannelHandlers: [PeerCheckHandler(registry: peers)],
                                                idleTimeout: .milliseconds(Int64(idle.milliseconds)))),
            configuration: .init(address: .unixDomainSocket(path: path), serverName: nil),
            onServerRunning: { _ in
                // The mode comes from the umask at bind; set it explicitly.
                chmod(path, 0o660)
                if let group { _ = chown(path, getuid(), group) }
                logger.info("control socket ready", metadata: ["schedd.socket": "\(path)"])
            },
            logger: logger)
        try await app.runService()
        unlink(path)
    }
}

/// Checks the peer, and turns every error into `{"error":{"code","message"}}` with a fitting
/// status.
struct ControlMiddleware: RouterMiddleware {
    typealias Context = ControlContext
    let daemonUID: uid_t
    let socketGroup: gid_t?
    let peers: PeerCheckHandler.Registry
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let known = peers.peer(of: context.channel)
        guard let peer = known == nil ? await PeerCredentials.of(context.channel) : known,
              peer.isAllowed(daemonUID: daemonUID, group: socketGroup) else {
            logger.warning("control request refused: peer not allowed", metadata: ["schedd.path": "\(request.uri.path)"])
            return Self.error(.forbidden, APIError(.init(rawValue: "forbidden"), "only root, the daemon's user and members of the socket group may use schedd's socket"))
        }
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return Self.error(Self.status(for: error.code), error)
        } catch let error as HTTPError {
            let code: String
            switch error.status {
            case .notFound: code = "not_found"
            case .contentTooLarge: code = "too_large"
            case .methodNotAllowed: code = "method_not_allowed"
            default: code = error.status.code < 500 ? "bad_request" : "internal"
            }
            let message = error.status == .contentTooLarge ? "the request body is over the limit of 1 MiB"
                : error.status == .notFound ? "no such endpoint: \(request.method) \(request.uri.path)" : (error.body ?? "\(error.status)")
            return Self.error(error.status, APIError(.init(rawValue: code), message))
        } catch is NIOTooManyBytesError {
            return Self.error(.contentTooLarge, APIError(.init(rawValue: "too_large"), "the request body is over the limit of 1 MiB"))
        } catch let error as DecodingError {
            return Self.error(.badRequest, APIError(.invalidArgument, "the request body does not fit: \(error)"))
        } catch {
            logger.error("control request failed", metadata: ["schedd.path": "\(request.uri.path)", "schedd.error": "\(error)"])
            return Self.error(.internalServerError, APIError(.internal, "\(error)"))
        }
    }

    static func status(for code: APIError.Code) -> HTTPResponse.Status {
        switch code {
        case .notFound: return .notFound
        case .conflict: return .conflict
        case .invalidJobFile, .invalidArgument, .invalidSchedule: return .badRequest
        default: return .internalServerError
        }
    }

    static func error(_ status: HTTPResponse.Status, _ error: APIError) -> Response {
        ControlRoutes.json(ErrorResponse(error: error), status: status)
    }
}
