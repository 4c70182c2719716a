import Hummingbird
import NIOCore

/// The request context of the control API: the connection's channel (for its peer's
/// credentials) and a 1 MiB body limit.
public struct ControlContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel
    /// What the peer may do; set by the middleware before any route runs.
    public internal(set) var role: AccessPolicy.Role = .refused

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    public var maxUploadSize: Int { 1 << 20 }
}
