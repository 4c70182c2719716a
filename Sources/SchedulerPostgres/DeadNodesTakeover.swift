import Foundation
import SchedulerAPI

/// What a node took over from the nodes it declared dead: their active runs, now `lost`, and
/// their retries that waited for their time, now its own to run (each due when it was); and
/// the waiting retries of the nodes that left the cluster.
public struct DeadNodesTakeover: Sendable {
    public var lost: [RunRecord] = []
    public var retries: [(run: RunRecord, due: Date)] = []
    /// Runs that ended as their node stopped, whose final results (failures in a row,
    /// `on_failure`/`on_success`) this node now applies (`runs.policy_pending` names it).
    public var policies: [RunRecord] = []
    /// The names of the nodes that left or died long ago (`PostgresStore.goneNodesKept`), now
    /// gone from `nodes`.
    public var forgotten: [String] = []

    public var isEmpty: Bool { lost.isEmpty && retries.isEmpty && policies.isEmpty }
}
