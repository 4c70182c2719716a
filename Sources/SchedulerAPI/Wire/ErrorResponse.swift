import Foundation

/// The error body of every failed request: `{"error": {"code": "…", "message": "…"}}`.
public struct ErrorResponse: Sendable, Codable, Equatable {
    public var error: APIError
    public init(error: APIError) { self.error = error }
}
