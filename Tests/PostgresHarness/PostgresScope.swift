// Built with the tests only: a plain `swift build` builds this target too, and has no Testing
// module to give it.
#if canImport(Testing)
import Testing

/// Gives a suite a throwaway PostgreSQL server (`PostgresServer.current`) for its run.
public struct PostgresScope: SuiteTrait, TestScoping {
    public var isRecursive: Bool { false }

    public func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        try await PostgresServer.withServer { try await function() }
    }
}

extension Trait where Self == PostgresScope {
    /// A throwaway PostgreSQL server for the suite.
    public static var postgres: Self { PostgresScope() }
}
#endif
