import Foundation

/// A stored job: its definition, when it was written, and the engine's state of it.
public struct JobInfo: Sendable, Equatable, Codable {
    public var spec: JobSpec
    public var createdAt: Date
    public var updatedAt: Date
    public var state: JobState
    public var origin: JobOrigin

    public init(spec: JobSpec, createdAt: Date, updatedAt: Date, state: JobState, origin: JobOrigin = .api()) {
        self.spec = spec
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.state = state
        self.origin = origin
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        spec = try c.decode(JobSpec.self, forKey: .spec)
        createdAt = try c.decode(Date.self, forKey: .createdAt)
        updatedAt = try c.decode(Date.self, forKey: .updatedAt)
        state = try c.decode(JobState.self, forKey: .state)
        origin = try c.decodeIfPresent(JobOrigin.self, forKey: .origin) ?? .api()
    }

    public var name: String { spec.name }

    private enum CodingKeys: String, CodingKey {
        case spec, createdAt = "created_at", updatedAt = "updated_at", state, origin
    }
}
