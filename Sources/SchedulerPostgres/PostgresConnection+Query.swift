import Logging
import PostgresNIO

extension PostgresConnection {
    /// The store's statements log nothing of their own (errors reach the caller with what
    /// PostgreSQL said): a query without a logger of its own.
    func query(_ query: PostgresQuery, file: String = #fileID, line: Int = #line) async throws -> PostgresRowSequence {
        try await self.query(query, logger: Self.quiet, file: file, line: line)
    }

    static let quiet = Logger(label: "schedd.postgres", factory: { _ in SwiftLogNoOpLogHandler() })
}
