import Foundation
import SchedulerAPI
#if canImport(Glibc)
import Glibc
#endif

/// A small blocking HTTP/1.1 client for schedd's Unix socket: one request per connection.
/// A CLI makes one or two requests, so blocking I/O is the simple and fast choice here.
struct ControlClient {
    let socketPath: String

    struct Reply {
        var status: Int
        var body: [UInt8]
    }

    /// Exit code 3 with how to start the daemon: schedd is not reachable.
    func unreachable(_ why: String) -> CommandFailure {
        CommandFailure(message: "cannot reach schedd at \(socketPath) (\(why)); start it with `schedd` (or `systemctl start schedd`), or point --socket / SCHEDD_SOCKET at its socket", exitCode: 3)
    }

    /// How long a connect may wait for a daemon whose queue of connections is full, at most.
    static let connectTimeout = 10

    /// How long an open event stream may stay silent: the daemon sends a keep-alive every 5 s.
    static let streamSilenceTimeout = 60

    func send(_ method: String, _ path: String, body: [UInt8]? = nil, timeout: Int = 60) throws -> Reply {
        let fd = try connectSocket(timeout: min(timeout, Self.connectTimeout))
        defer { close(fd) }
        var tv = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))

        var request = "\(method) \(path) HTTP/1.1\r\nHost: schedd\r\nConnection: close\r\nUser-Agent: schedctl/\(Version.current)\r\n"
        if let body { request += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
        request += "\r\n"
        var out = Array(request.utf8) + (body ?? [])
        var offset = 0
        var cutShort: Int32?
        while offset < out.count {
            let n = out.withUnsafeMutableBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno == EAGAIN { throw CommandFailure(message: "schedd did not take the request within \(min(timeout, Self.connectTimeout))s: it is stopped or overloaded", exitCode: 1) }
            if n < 0 && (errno == EPIPE || errno == ECONNRESET) {
                // The daemon may answer before it has read the whole request (a body over its
                // limit gets 413 at once) and close: its answer is waiting to be read.
                cutShort = errno
                break
            }
            guard n > 0 else { throw unreachable("write failed: \(String(cString: strerror(errno)))") }
            offset += n
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 65536, 0) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno == ECONNRESET && cutShort != nil { break }
            if n < 0 { throw CommandFailure(message: "schedd did not answer within \(timeout)s", exitCode: 1) }
            if n == 0 { break }
            response.append(contentsOf: buffer[..<n])
        }
        if let cutShort, response.isEmpty {
            throw CommandFailure(message: "schedd closed the connection after \(offset) of the request's \(out.count) bytes, without an answer (\(String(cString: strerror(cutShort)))): see its log", exitCode: 1)
        }
        return try Self.parse(response)
    }

    /// Sends a request whose reply is a Server-Sent Events stream, and hands each `data:`
    /// payload to `onData` as it arrives, until the daemon closes the stream or `onData`
    /// returns false.
    /// `onOpen` is called once the daemon has accepted the stream (its subscription is then
    /// in place: nothing that happens after it is missed); `onQuiet` for each message without
    /// data (the keep-alive every 5 s). Either ends the stream by returning false.
    func stream(_ method: String, _ path: String, onOpen: () throws -> Bool = { true }, onQuiet: () throws -> Bool = { true },
                onData: (String) throws -> Bool) throws {
        let fd = try connectSocket(timeout: Self.connectTimeout)
        defer { close(fd) }
        var silence = timeval(tv_sec: Self.streamSilenceTimeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &silence, socklen_t(MemoryLayout<timeval>.size))
        let request = Array("\(method) \(path) HTTP/1.1\r\nHost: schedd\r\nAccept: text/event-stream\r\nConnection: close\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        let silent = CommandFailure(message: "schedd sent nothing for \(Self.streamSilenceTimeout)s on an open stream, though it sends a keep-alive every 5s: it is stopped or overloaded", exitCode: 1)
        var pending: [UInt8] = []
        var headerDone = false
        var text = ""
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 65536, 0) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno == EAGAIN { throw silent }
            if n <= 0 { return }
            pending.append(contentsOf: buffer[..<n])
            if !headerDone {
                guard let end = pending.firstRange(of: Array("\r\n\r\n".utf8)) else { continue }
                let head = String(decoding: pending[..<end.lowerBound], as: UTF8.self)
                let status = head.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
                guard status == 200 else {
                    // An error reply is short and ends with the connection: read it whole.
                    while true {
                        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 65536, 0) }
                        if n < 0 && errno == EINTR { continue }
                        if n <= 0 { break }
                        pending.append(contentsOf: buffer[..<n])
                    }
                    throw Self.failure(try Self.parse(pending))
                }
                pending.removeSubrange(..<end.upperBound)
                headerDone = true
                guard try onOpen() else { return }
            }
            // De-chunk what is complete. The last chunk often comes in the same read as the
            // last events: those are handed over before the stream counts as ended.
            var ended = false
            while let lineEnd = pending.firstRange(of: Array("\r\n".utf8)) {
                let sizeText = String(decoding: pending[..<lineEnd.lowerBound], as: UTF8.self)
                guard let size = Int(sizeText.split(separator: ";").first ?? "", radix: 16), size > 0 else {
                    ended = true
                    break
                }
                guard pending.count >= lineEnd.upperBound + size + 2 else { break }
                text += String(decoding: pending[lineEnd.upperBound..<lineEnd.upperBound + size], as: UTF8.self)
                pending.removeSubrange(..<(lineEnd.upperBound + size + 2))
            }
            while let range = text.range(of: "\n\n") {
                let event = text[..<range.lowerBound]
                text.removeSubrange(..<range.upperBound)
                var data = false
                for line in event.split(separator: "\n") where line.hasPrefix("data: ") {
                    data = true
                    guard try onData(String(line.dropFirst(6))) else { return }
                }
                if !data { guard try onQuiet() else { return } }
            }
            if ended { return }
        }
    }

    func connectSocket(timeout: Int) throws -> Int32 {
        if let problem = UnixSocketAddress.pathProblem(socketPath) { throw CommandFailure.usage(problem) }
        // Checked first: the checks of a socket's directory below would be about its parent.
        var info = stat()
        if stat(socketPath, &info) == 0, info.st_mode & S_IFMT == S_IFDIR {
            let inside = (socketPath.hasSuffix("/") ? socketPath : socketPath + "/") + "schedd.sock"
            var socketInside = stat()
            let hint = stat(inside, &socketInside) == 0 && socketInside.st_mode & S_IFMT == S_IFSOCK ? " (\(inside) is one)" : ""
            throw CommandFailure(message: "\(socketPath) is a directory, not schedd's socket: point --socket / SCHEDD_SOCKET at its socket\(hint)", exitCode: 3)
        }
        // Someone who may write the socket's directory could have put their own socket there.
        if let problem = SocketDirectory.clientProblem(socketPath: socketPath) {
            throw CommandFailure(message: problem, exitCode: 1)
        }
        let fd = UnixSocketAddress.connectStream(socketPath, timeout: .seconds(timeout))
        guard fd >= 0 else {
            let code = errno
            if code == EAGAIN {
                // Something listens there, so starting schedd is not the fix either.
                throw CommandFailure(message: "cannot reach schedd at \(socketPath): it did not accept the connection within \(timeout)s (its queue of connections is full: it is stopped or overloaded)", exitCode: 3)
            }
            if code == EACCES || code == EPERM {
                // Not the socket but its directory: an admin told to join the admin group, as
                // they are already, would look in the wrong place.
                if let blocked = SocketDirectory.clientKeptOut(socketPath: socketPath) { throw CommandFailure(message: blocked, exitCode: 1) }
                // The socket is there, so schedd most likely is too: starting it is not the fix.
                throw CommandFailure(message: "permission denied on schedd's socket \(socketPath): your user (uid \(getuid())) may not use it; ask an administrator to add you to schedd's --admin-group, or to start schedd with --allow-users, or run schedctl as root", exitCode: 1)
            }
            // A file that is no socket refuses the connection too: "Connection refused" would
            // send the user off to start a daemon that may well be running elsewhere.
            if code == ECONNREFUSED, stat(socketPath, &info) == 0, info.st_mode & S_IFMT != S_IFSOCK {
                throw CommandFailure(message: "\(socketPath) is \(FileKind.name(info.st_mode)), not schedd's socket: point --socket / SCHEDD_SOCKET at its socket", exitCode: 3)
            }
            throw unreachable(String(cString: strerror(code)))
        }
        return fd
    }

    /// Status line, headers (Content-Length or chunked), body.
    static func parse(_ data: [UInt8]) throws -> Reply {
        guard let end = data.firstRange(of: Array("\r\n\r\n".utf8)) else {
            throw CommandFailure(message: "schedd sent an incomplete reply", exitCode: 1)
        }
        let head = String(decoding: data[..<end.lowerBound], as: UTF8.self)
        let lines = head.components(separatedBy: "\r\n")
        let parts = lines.first?.split(separator: " ") ?? []
        guard parts.count >= 2, let status = Int(parts[1]) else {
            throw CommandFailure(message: "schedd sent a malformed reply", exitCode: 1)
        }
        var body = Array(data[end.upperBound...])
        let chunked = lines.contains { $0.lowercased().hasPrefix("transfer-encoding:") && $0.lowercased().contains("chunked") }
        if chunked {
            var decoded: [UInt8] = []
            var i = 0
            while i < body.count {
                guard let lineEnd = body[i...].firstRange(of: Array("\r\n".utf8)) else { break }
                let sizeText = String(decoding: body[i..<lineEnd.lowerBound], as: UTF8.self).split(separator: ";").first ?? ""
                guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16), size > 0 else { break }
                let start = lineEnd.upperBound
                decoded.append(contentsOf: body[start..<min(start + size, body.count)])
                i = start + size + 2
            }
            body = decoded
        }
        return Reply(status: status, body: body)
    }

    /// Sends a request and decodes a 2xx reply, or throws the daemon's error (exit 1).
    func call<T: Decodable>(_ method: String, _ path: String, body: [UInt8]? = nil, as type: T.Type, timeout: Int = 60) throws -> T {
        try Self.decoded(try send(method, path, body: body, timeout: timeout), as: type)
    }

    /// A 2xx reply decoded, or the daemon's error (exit 1).
    static func decoded<T: Decodable>(_ reply: Reply, as type: T.Type) throws -> T {
        guard (200..<300).contains(reply.status) else { throw Self.failure(reply) }
        do {
            return try APICoding.decoder().decode(T.self, from: Data(reply.body))
        } catch {
            throw CommandFailure(message: "schedd's reply could not be read: \(error)", exitCode: 1)
        }
    }

    static func failure(_ reply: Reply) -> CommandFailure {
        if let error = try? APICoding.decoder().decode(ErrorResponse.self, from: Data(reply.body)) {
            let code: Int32 = error.error.code == .invalidJobFile ? 2 : 1
            return CommandFailure(message: error.error.description, exitCode: code)
        }
        return CommandFailure(message: "schedd answered \(reply.status): \(String(decoding: reply.body, as: UTF8.self))", exitCode: 1)
    }

    /// Percent-encodes a path segment or query value.
    static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
    }
}
