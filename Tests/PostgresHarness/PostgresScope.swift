import Testing

/// Gives a suite a throwaway PostgreSQL server (`PostgresServer.current`) for its run, stopped
/// and deleted after it. Where the server's binaries are missing, the suite runs without one
/// and its PostgreSQL tests say that they were skipped, and why.
public struct PostgresScope: SuiteTrait, TestScoping {
    public var isRecursive: Bool { false }

    public func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        guard PostgresServer.unavailableReason == nil else {
            try await function()
            return
        }
        let server = try await PostgresServer.start()
        do {
            try await PostgresServer.$current.withValue(server) { try await function() }
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }
}

extension Trait where Self == PostgresScope {
    /// A throwaway PostgreSQL server for the suite.
    public static var postgres: Self { PostgresScope() }
}
