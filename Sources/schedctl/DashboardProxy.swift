import Foundation
import SchedulerAPI
#if canImport(Glibc)
import Glibc
#endif

/// `schedctl dashboard`'s server: HTTP on 127.0.0.1, each request checked for the token and
/// passed to schedd's socket byte for byte (so that the daemon sees schedctl's user, and a
/// run's live output streams through), one thread per connection. The token comes once in the
/// URL; the answer to it is a redirect that sets it as a cookie, so it leaves the address bar.
final class DashboardProxy: Sendable {
    let port: Int
    let token: String
    let socketPath: String
    let listener: Int32

    init(port requested: Int, token: String, socketPath: String) throws {
        self.token = token
        self.socketPath = socketPath
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw CommandFailure(message: "cannot make a socket: \(String(cString: strerror(errno)))", exitCode: 1) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(requested).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            let why = String(cString: strerror(errno))
            close(fd)
            throw CommandFailure(message: "cannot listen on 127.0.0.1:\(requested): \(why)", exitCode: 1)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// Accepts connections until the process ends.
    func serve() -> Never {
        signal(SIGPIPE, SIG_IGN)
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                switch errno {
                case EINTR, ECONNABORTED, EPROTO:
                    continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // Out of descriptors or memory for now: the connection waits in the queue
                    // until some are closed; retrying at once would spin.
                    usleep(50_000)
                    continue
                default:
                    FileHandle.standardError.write(Data("schedctl dashboard: cannot accept connections: \(String(cString: strerror(errno)))\n".utf8))
                    exit(1)
                }
            }
            let thread = Thread { [self] in
                handle(client)
                close(client)
            }
            thread.start()
        }
    }

    /// A request's head: its line and headers, and what of the body came with it.
    struct Head {
        var method: String
        var target: String
        var headers: [(name: String, value: String)]
        var rest: [UInt8]

        func header(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name }?.value
        }
    }

    static func readHead(_ fd: Int32) -> Head? {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 8192)
        while data.count < 65536 {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return nil }
            data += buffer[..<n]
            if let end = data.firstRange(of: Array("\r\n\r\n".utf8)) {
                let lines = String(decoding: data[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
                let parts = lines[0].split(separator: " ")
                guard parts.count == 3 else { return nil }
                let headers = lines.dropFirst().compactMap { line -> (String, String)? in
                    guard let colon = line.firstIndex(of: ":") else { return nil }
                    return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
                }
                return Head(method: String(parts[0]), target: String(parts[1]), headers: headers, rest: Array(data[end.upperBound...]))
            }
        }
        return nil
    }

    /// Constant time, so that the answer's timing says nothing of how much of a guess was right.
    func isToken(_ candidate: String?) -> Bool {
        guard let candidate else { return false }
        let a = Array(candidate.utf8), b = Array(token.utf8)
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    static func send(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    static func answer(_ fd: Int32, _ status: String, _ text: String, extra: [String] = []) {
        let body = Array(text.utf8)
        let head = (["HTTP/1.1 \(status)", "Content-Type: text/plain; charset=utf-8", "Content-Length: \(body.count)", "Connection: close"]
                    + extra).joined(separator: "\r\n") + "\r\n\r\n"
        _ = send(fd, Array(head.utf8) + body)
    }

    /// How long a connection may take to send its request (and body): each has a thread, and a
    /// connection that sends nothing (a browser's preconnect, left over) would hold it for ever.
    static let requestTimeout = 10

    func handle(_ client: Int32) {
        var timeout = timeval(tv_sec: Self.requestTimeout, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard let head = Self.readHead(client) else { return }
        // Only this address: a page from elsewhere that got a name to resolve to 127.0.0.1 is not
        // the dashboard, and gets nothing.
        let host = head.header("host")
        guard host == "127.0.0.1:\(port)" || host == "localhost:\(port)" else {
            return Self.answer(client, "403 Forbidden", "schedctl dashboard: unexpected Host \(host ?? "(none)")\n")
        }
        let (path, query) = head.target.split(separator: "?", maxSplits: 1).map(String.init).splitFirst()
        let fromQuery = query.flatMap { URLComponents(string: "?" + $0)?.queryItems?.first { $0.name == "token" }?.value }
        if isToken(fromQuery) {
            return Self.answer(client, "303 See Other", "", extra: [
                "Location: \(path)", "Set-Cookie: schedd_dashboard=\(token); Path=/; HttpOnly; SameSite=Strict",
            ])
        }
        let cookie = head.header("cookie")?.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            .first { $0.hasPrefix("schedd_dashboard=") }.map { String($0.dropFirst("schedd_dashboard=".count)) }
        guard isToken(cookie) else {
            return Self.answer(client, "403 Forbidden", "schedctl dashboard: the token is missing or wrong; open the address schedctl printed\n")
        }
        if let problem = SocketDirectory.clientProblem(socketPath: socketPath) {
            return Self.answer(client, "502 Bad Gateway", problem + "\n")
        }
        let daemon = UnixSocketAddress.connectStream(socketPath, timeout: .seconds(ControlClient.connectTimeout))
        guard daemon >= 0 else {
            return Self.answer(client, "502 Bad Gateway", "cannot reach schedd at \(socketPath): \(String(cString: strerror(errno)))\n")
        }
        defer { close(daemon) }
        // One request per connection, without the cookie (the daemon has no use for it).
        let forwarded = head.headers.filter { !["connection", "cookie", "keep-alive"].contains($0.name.lowercased()) }
        let text = (["\(head.method) \(head.target) HTTP/1.1"] + forwarded.map { "\($0.name): \($0.value)" } + ["Connection: close"])
            .joined(separator: "\r\n") + "\r\n\r\n"
        guard Self.send(daemon, Array(text.utf8) + head.rest) else { return }
        var remaining = (Int(head.header("content-length") ?? "0") ?? 0) - head.rest.count
        var buffer = [UInt8](repeating: 0, count: 65536)
        while remaining > 0 {
            let n = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, min($0.count, remaining), 0) }
            if n <= 0 { return }
            guard Self.send(daemon, Array(buffer[..<n])) else { return }
            remaining -= n
        }
        // The answer as it comes: a run's events stream until it ends or the browser leaves.
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(daemon, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return }
            guard Self.send(client, Array(buffer[..<n])) else { return }
        }
    }
}

extension Array where Element == String {
    /// The first element and the second, if any.
    fileprivate func splitFirst() -> (String, String?) {
        (first ?? "/", count > 1 ? self[1] : nil)
    }
}
