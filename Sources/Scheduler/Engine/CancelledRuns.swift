/// What `JobScheduler.cancel(job:)` stopped.
public struct CancelledRuns: Sendable, Equatable {
    /// The active runs asked to stop (on every node, in cluster mode).
    public var runs: [Int64]
    /// The job's retries that had not started, recorded as `skipped` instead: their rows' ids.
    public var retries: [Int64]
    /// The job's other runs that had not started (waiting for a worker, for what they require,
    /// or for their turn under `catch_up: all`), recorded as `skipped` instead: their rows' ids.
    public var waiting: [Int64]
    /// Runs whose start was being written (no id to give yet): each is cancelled as it begins.
    public var starting: Int

    public init(runs: [Int64], retries: [Int64], waiting: [Int64] = [], starting: Int = 0) {
        self.starting = starting
        self.runs = runs
        self.retries = retries
        self.waiting = waiting
    }
}
