import Hummingbird
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
#if canImport(Glibc)
import Glibc
#endif

/// The last handler of a control connection until the router is needed. It answers
/// `GET /v1/jobs` itself, on the event loop, when the encoded list is cached for the database
/// as it is now and the peer is plainly allowed. The first request it does not answer hands
/// the connection to the router: the async channel the router's task reads is made then, so
/// a connection that only asks for the list never wakes a task.
///
/// With 1,000 jobs and 50 clients at once the list itself is cached; the cost per connection
/// was the async side of the server (a task per connection, the hops from the event loop to
/// it and back): about twice the CPU of the whole answer written here.
final class ControlConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart
    typealias RouterChannel = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>

    /// What the handler needs to know, shared by every connection.
    struct Source: Sendable {
        /// The encoded list if it is cached for the database as it is now.
        let freshList: @Sendable () -> ByteBuffer?
        /// The peer of an open channel, if read.
        let peers: PeerCheckHandler.Registry
        let access: AccessPolicy
        /// Gives a connection to the router's side.
        let handOver: @Sendable (RouterChannel) -> Void
    }

    private enum Reading {
        /// Between requests.
        case idle
        /// A request that the router answers: its parts go on to it.
        case passing
        /// A request answered here once it is read to its end.
        case answering(body: ByteBuffer, close: Bool)
    }

    private let source: Source
    private var reading = Reading.idle
    private var handedOver = false
    /// The end of the last answer written here, which a close must wait for.
    private var lastAnswer: EventLoopFuture<Void>?
    /// Requests handed to the router whose response has not ended yet. A pipelined request
    /// behind one of them must not be answered first, so while any is open all go to it.
    private var routerRequestsOpen = 0

    init(source: Source) { self.source = source }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch (part, reading) {
        case (.head(let request), _):
            if routerRequestsOpen == 0, let body = cachedAnswer(to: request, channel: context.channel) {
                reading = .answering(body: body, close: request.headerFields[.connection]?.lowercased() == "close")
                return
            }
            guard handOverIfNeeded(context: context) else { return }
            reading = .passing
            routerRequestsOpen += 1
            context.fireChannelRead(data)
        case (.body, .answering):
            break
        case (.end, .answering(let body, let close)):
            reading = .idle
            respond(context: context, body: body, close: close)
        case (.end, _):
            reading = .idle
            context.fireChannelRead(data)
        case (.body, _):
            context.fireChannelRead(data)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), routerRequestsOpen > 0 { routerRequestsOpen -= 1 }
        context.write(data, promise: promise)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Before the hand-over nobody else reads: a client that has said all it will (a
        // half-close) gets its answers and then the end of the connection.
        if !handedOver, let event = event as? ChannelEvent, event == .inputClosed {
            closeAfterAnswers(context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !handedOver else {
            context.fireErrorCaught(error)
            return
        }
        // What the router's connection loop does with a request it cannot parse.
        if error is HTTPParserError {
            var headers = HTTPFields()
            headers[.connection] = "close"
            headers[.contentLength] = "0"
            context.write(wrapOutboundOut(.head(HTTPResponse(status: .badRequest, headerFields: headers))), promise: nil)
            lastAnswer = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        }
        closeAfterAnswers(context: context)
    }

    private func closeAfterAnswers(context: ChannelHandlerContext) {
        // A close drops writes still queued: wait for the kernel to have them.
        guard let lastAnswer else {
            context.close(promise: nil)
            return
        }
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        lastAnswer.whenComplete { _ in loopBound.value.close(promise: nil) }
    }

    /// Puts the router's async channel behind this handler the first time it is needed;
    /// false (and the connection closed) if it cannot be.
    private func handOverIfNeeded(context: ChannelHandlerContext) -> Bool {
        guard !handedOver else { return true }
        handedOver = true
        do {
            // On the event loop, in the middle of a read: the reads fired after this are
            // delivered to the router at the read's end.
            let channel = try RouterChannel(wrappingChannelSynchronously: context.channel,
                                            configuration: .init(isOutboundHalfClosureEnabled: true))
            source.handOver(channel)
            return true
        } catch {
            context.close(promise: nil)
            return false
        }
    }

    /// The list to answer `request` with here, or nil if the router should answer it.
    private func cachedAnswer(to request: HTTPRequest, channel: any Channel) -> ByteBuffer? {
        guard request.method == .get, let path = request.path, Self.isJobList(path) else { return nil }
        // Admins by their credentials alone. Anyone else (an admin by supplementary group, a
        // user, whose list is their own, or a peer not read yet) is left to the middleware: its
        // account lookup may block, which the event loop must not.
        guard let peer = source.peers.peer(of: channel),
              source.access.isPlainlyAdmin(uid: peer.uid, gid: peer.gid) else { return nil }
        return source.freshList()
    }

    static func isJobList(_ path: String) -> Bool {
        // The route takes no query parameters and ignores any.
        let route = path.utf8.firstIndex(of: UInt8(ascii: "?")).map { path[..<$0] } ?? Substring(path)
        return route == "/v1/jobs"
    }

    private func respond(context: ChannelHandlerContext, body: ByteBuffer, close: Bool) {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.contentLength] = String(body.readableBytes)
        headers[.date] = HTTPDate.now()
        context.write(wrapOutboundOut(.head(HTTPResponse(status: .ok, headerFields: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        lastAnswer = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if close { closeAfterAnswers(context: context) }
    }
}
