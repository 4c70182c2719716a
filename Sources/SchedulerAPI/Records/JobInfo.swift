import Foundation

/// A stored job: its definition, when it was written, and the engine's state of it.
public struct JobInfo: Sendable, Equatable, Codable {
    /// The definition as the store's decode cache keeps it: the engine holds this one too.
    package private(set) var sharedSpec: SharedValue<JobSpec>
    public var spec: JobSpec {
        get { sharedSpec.value }
        set { sharedSpec = SharedValue(newValue) }
    }
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
        self.init(sharedSpec: SharedValue(spec), createdAt: createdAt, updatedAt: updatedAt, state: state, origin: origin,
                  problem: problem, createdBy: createdBy, changedBy: changedBy)
    }

    package init(sharedSpec: SharedValue<JobSpec>, createdAt: Date, updatedAt: Date, state: JobState, origin: JobOrigin = .api(),
                 problem: String? = nil, createdBy: String? = nil, changedBy: String? = nil) {
        self.createdBy = createdBy
        self.changedBy = changedBy
        self.sharedSpec = sharedSpec
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

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(spec: try c.decode(JobSpec.self, forKey: .spec), createdAt: try c.decode(Date.self, forKey: .createdAt),
                  updatedAt: try c.decode(Date.self, forKey: .updatedAt), state: try c.decode(JobState.self, forKey: .state),
                  origin: try c.decode(JobOrigin.self, forKey: .origin), problem: try c.decodeIfPresent(String.self, forKey: .problem),
                  createdBy: try c.decodeIfPresent(String.self, forKey: .createdBy),
                  changedBy: try c.decodeIfPresent(String.self, forKey: .changedBy))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(spec, forKey: .spec)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(updatedAt, forKey: .updatedAt)
        try c.encode(state, forKey: .state)
        try c.encode(origin, forKey: .origin)
        try c.encodeIfPresent(problem, forKey: .problem)
        try c.encodeIfPresent(createdBy, forKey: .createdBy)
        try c.encodeIfPresent(changedBy, forKey: .changedBy)
    }
}
