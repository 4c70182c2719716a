import Foundation
import NIOSSL
import PostgresNIO
import SchedulerAPI

/// Where the cluster's PostgreSQL is, from a libpq-style URL:
/// `postgresql://user@/db?host=/run/postgresql` (a Unix socket's folder, as libpq takes it) or
/// `postgresql://user:password@host:5432/db?sslmode=require`.
public struct PostgresURL: Sendable, Equatable {
    public enum Endpoint: Sendable, Equatable {
        /// The socket file itself (`DIR/.s.PGSQL.PORT`).
        case socket(path: String)
        case tcp(host: String, port: Int)
    }

    public enum SSLMode: String, Sendable, Equatable {
        case disable, prefer, require
    }

    public var endpoint: Endpoint
    public var user: String
    public var password: String?
    public var database: String
    public var sslMode: SSLMode

    /// Parses `text`; the error names the part that is wrong. The password never appears in it.
    public init(_ text: String) throws(APIError) {
        func bad(_ why: String) -> APIError {
            APIError(.invalidArgument, "the PostgreSQL URL \(Self.redacted(text)): \(why)")
        }
        guard let schemeEnd = text.range(of: "://") else { throw bad("expected postgresql://USER@HOST/DB or postgresql://USER@/DB?host=/socket/dir") }
        let scheme = text[..<schemeEnd.lowerBound]
        guard scheme == "postgresql" || scheme == "postgres" else { throw bad("the scheme \"\(scheme)\" is not postgresql://") }
        var rest = text[schemeEnd.upperBound...]
        var query: [String: String] = [:]
        if let mark = rest.firstIndex(of: "?") {
            for pair in rest[rest.index(after: mark)...].split(separator: "&") where !pair.isEmpty {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2, let key = parts[0].removingPercentEncoding, let value = parts[1].removingPercentEncoding else {
                    throw bad("the parameter \"\(pair)\" is not KEY=VALUE")
                }
                query[key] = value
            }
            rest = rest[..<mark]
        }
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        let path = rest[authorityEnd...].dropFirst()
        var user: String?
        var password: String?
        if let at = authority.lastIndex(of: "@") {
            let credentials = authority[..<at]
            authority = authority[authority.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                user = String(credentials[..<colon]).removingPercentEncoding
                password = String(credentials[credentials.index(after: colon)...]).removingPercentEncoding
            } else {
                user = String(credentials).removingPercentEncoding
            }
        }
        var host: String
        var port = 5432
        var portText: Substring?
        if authority.hasPrefix("[") {
            // An IPv6 address, in brackets as in any URL.
            guard let close = authority.firstIndex(of: "]") else { throw bad("the host \"\(authority)\" has no closing \"]\"") }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw bad("\"\(after)\" after the host [\(host)] is not :PORT") }
                portText = after.dropFirst()
            }
        } else if let colon = authority.firstIndex(of: ":") {
            host = String(authority[..<colon])
            portText = authority[authority.index(after: colon)...]
            if portText?.contains(":") == true { throw bad("an IPv6 address goes in brackets: postgresql://USER@[::1]:5432/DB") }
        } else {
            host = String(authority)
        }
        if let portText {
            guard let number = Int(portText), (1...65535).contains(number) else {
                throw bad("the port \"\(portText)\" is not a number from 1 to 65535")
            }
            port = number
        }
        host = host.removingPercentEncoding ?? host
        if let value = query.removeValue(forKey: "host") { host = value }
        if let value = query.removeValue(forKey: "port") {
            guard let number = Int(value), (1...65535).contains(number) else { throw bad("port=\(value) is not a number from 1 to 65535") }
            port = number
        }
        if let value = query.removeValue(forKey: "user") { user = value }
        if let value = query.removeValue(forKey: "password") { password = value }
        var database = String(path).removingPercentEncoding ?? String(path)
        if let value = query.removeValue(forKey: "dbname") { database = value }
        let mode = query.removeValue(forKey: "sslmode")
        if let unknown = query.keys.sorted().first {
            throw bad("the parameter \"\(unknown)\" is not one schedd knows (host, port, user, password, dbname, sslmode)")
        }
        guard let user, !user.isEmpty else { throw bad("no user: write postgresql://USER@…") }
        guard !database.isEmpty else { throw bad("no database: write …/DBNAME") }
        guard !host.isEmpty else { throw bad("no host: write @HOST or ?host=/socket/dir") }
        self.user = user
        self.password = password
        self.database = database
        if host.hasPrefix("/") {
            endpoint = .socket(path: (host as NSString).appendingPathComponent(".s.PGSQL.\(port)"))
            sslMode = .disable
            if let mode, mode != "disable" && mode != "prefer" { throw bad("sslmode=\(mode) over a Unix socket: TLS is for TCP") }
        } else {
            endpoint = .tcp(host: host, port: port)
            guard let chosen = SSLMode(rawValue: mode ?? "prefer") else { throw bad("sslmode=\(mode ?? "") is not disable, prefer or require") }
            sslMode = chosen
        }
    }

    /// `text` with its password replaced by `***`, for messages and logs.
    public static func redacted(_ text: String) -> String {
        guard let schemeEnd = text.range(of: "://") else { return text }
        let rest = text[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var result = text
        if let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") {
            result.replaceSubrange(authority.index(after: colon)..<at, with: "***")
        }
        if let range = result.range(of: "password=") {
            let end = result[range.upperBound...].firstIndex(of: "&") ?? result.endIndex
            result.replaceSubrange(range.upperBound..<end, with: "***")
        }
        return result
    }

    /// Where the store connects, for `status` and logs (never the password).
    public var description: String {
        switch endpoint {
        case .socket(let path): "postgresql://\(user)@/\(database) (socket \(path))"
        case .tcp(let host, let port): "postgresql://\(user)@\(host):\(port)/\(database)"
        }
    }

    /// One connection's configuration (the start-up probe), with the same TLS as the client's.
    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        switch endpoint {
        case .socket(let path):
            return .init(unixSocketPath: path, username: user, password: password, database: database)
        case .tcp(let host, let port):
            let tls: PostgresConnection.Configuration.TLS = switch sslMode {
            case .disable: .disable
            case .prefer: .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            case .require: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
            return .init(host: host, port: port, username: user, password: password, database: database, tls: tls)
        }
    }

    /// The client's configuration.
    var clientConfiguration: PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        switch endpoint {
        case .socket(let path):
            configuration = .init(unixSocketPath: path, username: user, password: password, database: database)
        case .tcp(let host, let port):
            let tls: PostgresClient.Configuration.TLS = switch sslMode {
            case .disable: .disable
            case .prefer: .prefer(.makeClientConfiguration())
            case .require: .require(.makeClientConfiguration())
            }
            configuration = .init(host: host, port: port, username: user, password: password, database: database, tls: tls)
        }
        return configuration
    }
}
