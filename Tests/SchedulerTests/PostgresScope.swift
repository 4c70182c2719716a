import PostgresHarness
import Testing

/// Gives a suite a throwaway PostgreSQL server (`PostgresServer.current`) for its run.
struct PostgresScope: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        try await PostgresServer.withServer { try await function() }
    }
}

extension Trait where Self == PostgresScope {
    /// A throwaway PostgreSQL server for the suite.
    static var postgres: Self { PostgresScope() }
}
