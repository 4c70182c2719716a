import Foundation

/// A stored job: its definition, when it was written, and the engine's state of it.
public struct JobInfo: Sendable, Equatable, Codable {
    public var spec: JobSpec
    public var createdAt: Date
    public var updatedAt: Date
    public var state: JobState

    public init(spec: JobSpec, createdAt: Date, updatedAt: Date, state: JobState) {
        self.spec = spec
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.state = state
    }

    public var name: String { spec.name }

    private enum CodingKeys: String, CodingKey {
        case spec, createdAt = "created_at", updatedAt = "updated_at", state
    }
}
