/// The state of a run, as stored in `runs.status`.
public enum RunStatus: String, Sendable, Codable, CaseIterable {
    case running, succeeded, failed
    case timedOut = "timed_out"
    case cancelled, interrupted, skipped
    /// Cluster mode: the node running it stopped renewing its lease (it died, froze or was cut
    /// off), and another node closed the run.
    case lost
    /// Cluster mode: a slot waiting in the database for a node with a free worker to claim it;
    /// it becomes `running` on the node that does.
    case queued

    /// Whether the run has ended.
    public var isFinal: Bool { self != .running && self != .queued }
    /// Whether the run counts as a failure for retries, thresholds and `on_failure`. (A run
    /// is `interrupted` when schedd starts again after dying while it ran; its job's policy
    /// is applied then.)
    public var isFailure: Bool { self == .failed || self == .timedOut || self == .interrupted || self == .lost }
}
