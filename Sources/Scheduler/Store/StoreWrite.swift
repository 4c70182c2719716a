/// A write a store has accepted and makes durable no later than any write asked of it after:
/// waiting on it returns once it is durable, or throws why it failed.
package struct StoreWrite: Sendable {
    private let completion: @Sendable () async throws -> Void

    package init(_ completion: @escaping @Sendable () async throws -> Void) {
        self.completion = completion
    }

    /// A write that is already durable.
    package static let done = StoreWrite {}

    package func wait() async throws {
        try await completion()
    }
}
