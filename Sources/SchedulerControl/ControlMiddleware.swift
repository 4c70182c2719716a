import Hummingbird
import Logging
import NIOCore
import SchedulerAPI
#if canImport(Glibc)
import Glibc
#endif

/// Checks the peer, and turns every error into `{"error":{"code","message"}}` with a fitting
/// status.
struct ControlMiddleware: RouterMiddleware {
    /// What a body over the limit is told, with where a larger job file goes.
    static let tooLarge = "the request body is over the limit of 1 MiB; a larger job file is applied by schedd itself: its --config, reloaded with schedctl reload"

    typealias Context = ControlContext
    let access: AccessPolicy
    let peers: PeerCheckHandler.Registry
    let logger: Logger
    /// Every job's stored name, for a near miss of a name that is not one.
    let jobNames: @Sendable () async -> Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let known = peers.peer(of: context.channel)
        var role = AccessPolicy.Role.refused
        if let peer = known == nil ? await PeerCredentials.of(context.channel) : known {
            role = await access.role(uid: peer.uid, gid: peer.gid) {
                let account = await PeerAccounts.shared.account(uid: peer.uid)
                return (account.name, account.groups)
            }
        }
        guard role != .refused else {
            logger.warning("control request refused: peer not allowed", metadata: ["schedd.path": "\(request.uri.path)"])
            let who = access.users == .none ? "only root, the daemon's user and members of the admin group"
                : "only root, the daemon's user, members of the admin group and the users schedd allows (--allow-users)"
            return Self.error(.forbidden, APIError(.forbidden, "\(who) may use schedd's socket"))
        }
        var context = context
        context.role = role
        do {
            return try await next(request, context)
        } catch let error as APIError {
            let scope = ControlRoutes.scope(context)
            let told = await suggestingAJob(error, scope: scope)
            // A user's job names as they know them.
            let shown = scope.map { $0.shown(told) } ?? told
            return Self.error(Self.status(for: error.code), shown)
        } catch let error as HTTPError where error.status == .notFound {
            // The router answers 404 for a known path asked with another method: say which
            // methods it has (RFC 9110: 405 with Allow).
            let allowed = ControlRoutes.methods(at: request.uri.path)
            guard !allowed.isEmpty else {
                return Self.error(.notFound, APIError(.notFound, "no such endpoint: \(request.method) \(request.uri.path)"))
            }
            let names = allowed.map(\.rawValue).joined(separator: ", ")
            var response = Self.error(.methodNotAllowed, APIError(.init(rawValue: "method_not_allowed"),
                                                                  "\(request.uri.path) answers \(names), not \(request.method)"))
            response.headers[.allow] = names
            return response
        } catch let error as HTTPError {
            let code: String
            switch error.status {
            case .contentTooLarge: code = "too_large"
            case .methodNotAllowed: code = "method_not_allowed"
            default: code = error.status.code < 500 ? "bad_request" : "internal"
            }
            let message = error.status == .contentTooLarge ? Self.tooLarge : (error.body ?? "\(error.status)")
            return Self.error(error.status, APIError(.init(rawValue: code), message))
        } catch is NIOTooManyBytesError {
            return Self.error(.contentTooLarge, APIError(.init(rawValue: "too_large"), Self.tooLarge))
        } catch let error as DecodingError {
            return Self.error(.badRequest, APIError(.invalidArgument, "the request body does not fit: \(error)"))
        } catch {
            logger.error("control request failed", metadata: ["schedd.path": "\(request.uri.path)", "schedd.error": "\(error)"])
            return Self.error(.internalServerError, APIError(.internal, "\(error)"))
        }
    }

    /// `no job named "bakcup"` with the caller's job whose name is nearest, when one is near
    /// enough (`(did you mean "backup"?)`); a user is offered only their own jobs.
    func suggestingAJob(_ error: APIError, scope: UserScope?) async -> APIError {
        let opening = "no job named \""
        guard error.code == .notFound, error.message.hasPrefix(opening) else { return error }
        let rest = error.message.dropFirst(opening.count)
        guard let close = rest.firstIndex(of: "\"") else { return error }
        let missing = String(rest[..<close])
        let names = await jobNames().filter { scope?.owns($0) ?? true }
        guard let near = NearMiss.suggest(missing, among: names.sorted()) else { return error }
        var told = error
        told.message += " (did you mean \"\(near)\"?)"
        return told
    }

    static func status(for code: APIError.Code) -> HTTPResponse.Status {
        switch code {
        case .notFound: return .notFound
        case .conflict: return .conflict
        case .forbidden: return .forbidden
        case .invalidJobFile, .invalidArgument, .invalidSchedule: return .badRequest
        case .databaseUnavailable: return .serviceUnavailable
        default: return .internalServerError
        }
    }

    static func error(_ status: HTTPResponse.Status, _ error: APIError) -> Response {
        (try? ControlRoutes.json(ErrorResponse(error: error), status: status))
            ?? ControlRoutes.response(ByteBuffer(string: #"{"error":{"code":"internal","message":"the error could not be encoded"}}"# + "\n"),
                                      status: .internalServerError, contentType: "application/json")
    }
}
