import Foundation
import SchedulerAPI
#if canImport(Glibc)
import Glibc
#endif

/// Raw HTTP/1.1 to a TCP port on 127.0.0.1 (or on any connected socket): the request as given,
/// the answer until the server closes (or 5 s pass in silence).
enum LocalHTTP {
    static func exchange(port: Int, _ request: String) -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return "" }
        return exchange(fd, Array(request.utf8))
    }

    /// Sends `bytes` on a connected socket (then, with `halfClose`, shuts its sending side) and
    /// returns what comes back until the other end closes or `timeout` seconds pass in silence.
    static func exchange(_ fd: Int32, _ bytes: [UInt8], timeout: Int = 5, halfClose: Bool = false) -> String {
        var tv = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if halfClose { shutdown(fd, Int32(SHUT_WR)) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 65536, 0) }
            // A signal (a child's SIGCHLD, in the test process) interrupts a receive that has a
            // timeout, whatever SA_RESTART says: not the end of the answer.
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            out.append(contentsOf: buffer[..<n])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A GET of `path` on the Unix socket `socket`, read until the server closes (or 20 s pass
    /// in silence); `action` runs once what has come holds `mark` (the test's move once the
    /// stream has begun, such as opening a gate its job waits for).
    static func stream(socket: String, _ path: String, once mark: String, _ action: () -> Void) -> String? {
        let fd = UnixSocketAddress.connectStream(socket)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var tv = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let request = Array("GET \(path) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        var acted = false
        while true {
            if !acted && String(decoding: received, as: UTF8.self).contains(mark) {
                action()
                acted = true
            }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 65536, 0) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            received += buffer[..<n]
        }
        return String(decoding: received, as: UTF8.self)
    }

    /// A GET with `headers` (each `Name: value`), the connection closed after it.
    static func get(port: Int, _ path: String, host: String? = nil, headers: [String] = []) -> String {
        let lines = ["GET \(path) HTTP/1.1", "Host: \(host ?? "127.0.0.1:\(port)")"] + headers + ["Connection: close"]
        return exchange(port: port, lines.joined(separator: "\r\n") + "\r\n\r\n")
    }
}
