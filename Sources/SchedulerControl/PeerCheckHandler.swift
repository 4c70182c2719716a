import NIOCore
import Synchronization

/// Reads each connection's `SO_PEERCRED` once, on its event loop, when the connection is set
/// up, and keeps it until the connection closes: the access check of every request then needs
/// no hop to the event loop (which asking from the request's task costs).
final class PeerCheckHandler: ChannelInboundHandler, RemovableChannelHandler {
    // Passes everything through untouched; the type only matters to handlers that unwrap.
    typealias InboundIn = NIOAny

    let registry: Registry

    init(registry: Registry) { self.registry = registry }

    func handlerAdded(context: ChannelHandlerContext) {
        let key = ObjectIdentifier(context.channel)
        // Never an entry left by an earlier channel at the same address: without a fresh
        // reading, the request path asks the kernel itself.
        registry.remove(key)
        let registry = self.registry
        // On the event loop, so already complete: the entry exists before any request is read.
        PeerCredentials.read(context.channel)?.whenSuccess { registry.set(key, $0) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        registry.remove(ObjectIdentifier(context.channel))
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        registry.remove(ObjectIdentifier(context.channel))
    }

    /// The credentials of the open connections, by channel.
    final class Registry: Sendable {
        private let peers = Mutex<[ObjectIdentifier: PeerCredentials]>([:])

        func set(_ key: ObjectIdentifier, _ peer: PeerCredentials) { peers.withLock { $0[key] = peer } }
        func remove(_ key: ObjectIdentifier) { _ = peers.withLock { $0.removeValue(forKey: key) } }

        /// The peer of an open channel, if its handler has read it.
        func peer(of channel: any Channel) -> PeerCredentials? {
            peers.withLock { $0[ObjectIdentifier(channel)] }
        }
    }
}
