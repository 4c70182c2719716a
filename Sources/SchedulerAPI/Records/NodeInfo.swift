import Foundation

/// A node of a cluster, as `GET /v1/nodes` and `schedctl nodes` show it. Times are measured by
/// the database's clock, so that no node's clock skews them.
public struct NodeInfo: Sendable, Equatable, Codable {
    public var name: String
    /// `up`, `left` (shut down cleanly) or `dead` (its lease expired).
    public var state: String
    /// Its registration: bumped each time the node starts or takes its name back.
    public var epoch: Int64
    /// How long ago it last renewed its lease.
    public var heartbeatAgeMs: Int64
    /// How long its lease still runs (negative: expired).
    public var leaseRemainingMs: Int64
    public var workers: Int
    public var running: Int
    /// The database's clock minus the node's, as of its last renewal.
    public var clockOffsetMs: Int?
    public var startedAt: Date
    public var version: String?

    public init(name: String, state: String, epoch: Int64, heartbeatAgeMs: Int64, leaseRemainingMs: Int64, workers: Int, running: Int,
                clockOffsetMs: Int?, startedAt: Date, version: String?) {
        self.name = name
        self.state = state
        self.epoch = epoch
        self.heartbeatAgeMs = heartbeatAgeMs
        self.leaseRemainingMs = leaseRemainingMs
        self.workers = workers
        self.running = running
        self.clockOffsetMs = clockOffsetMs
        self.startedAt = startedAt
        self.version = version
    }

    private enum CodingKeys: String, CodingKey {
        case name, state, epoch, workers, running, version
        case heartbeatAgeMs = "heartbeat_age_ms", leaseRemainingMs = "lease_remaining_ms", clockOffsetMs = "clock_offset_ms"
        case startedAt = "started_at"
    }
}
