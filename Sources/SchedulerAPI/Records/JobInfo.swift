import Foundation

/// A stored job: its definition, when it was written, and the engine's state of it.
public struct JobInfo: Sendable, Equatable, Codable {
    public var spec: JobSpec
    public var createdAt: Date
    public var updatedAt: Date
    public var state: JobState
    public var origin: JobOrigin
    /// Why the stored definition cannot be used (edited by hand into something invalid, or
    /// written by a newer schedd); `spec` is then a disabled stand-in and the job never runs.
    public var problem: String?
    /// Who created the job, and who last changed its definition (`JobOrigin.actor`).
    public var createdBy: String?
    public var changedBy: String?

    public init(spec: JobSpec, createdAt: Date, updatedAt: Date, state: JobState, origin: JobOrigin = .api(), problem: String? = nil,
                createdBy: String? = nil, changedBy: String? = nil) {
        self.createdBy = createdBy
        self.changedBy = changedBy
        self.spec = spec
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.state = state
        self.origin = origin
        self.problem = problem
    }

    public var name: String { spec.name }

    private enum CodingKeys: String, CodingKey {
        case spec, createdAt = "created_at", updatedAt = "updated_at", state, origin, problem
        case createdBy = "created_by", changedBy = "changed_by"
    }
}
