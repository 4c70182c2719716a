import Foundation

/// One row of `runs`: a run from its start to its final status.
public struct RunRecord: Sendable, Equatable, Codable {
    public var id: Int64
    public var job: String
    public var trigger: RunTrigger
    public var attempt: Int
    public var status: RunStatus
    public var scheduledAt: Date?
    public var startedAt: Date
    public var finishedAt: Date?
    public var durationMs: Int64?
    public var exitCode: Int32?
    public var signal: Int32?
    public var pid: Int32?
    public var output: String?
    public var outputTruncated: Bool
    /// Which stream each part of `output` came from (`[["stdout", 120], ["stderr", 42]]`);
    /// nil when all of it is stdout.
    public var outputStreams: [OutputSegment]?
    public var error: String?
    /// The CPU time (user and system) the run's processes used, in milliseconds; nil for
    /// handlers, runs still going, and where schedd tracks processes without a cgroup per run.
    public var cpuMs: Int64?
    /// Who started a manual run over the control socket (`uid 1000 (alice)`); nil for runs
    /// schedd started itself.
    public var triggeredBy: String?
    /// Who cancelled the run over the control socket; nil otherwise.
    public var cancelledBy: String?
    /// For a dependency run (`on_failure`, `on_success`): the id of the run whose end
    /// triggered it.
    public var triggeredByRun: Int64?
    /// For a retry (`trigger` `retry`): the id of the failed attempt it follows.
    public var retryOf: Int64?
    /// Cluster mode: the node that runs or ran it (of a `queued` row, the node that queued
    /// it); nil on one node.
    public var node: String?

    public init(
        id: Int64, job: String, trigger: RunTrigger, attempt: Int, status: RunStatus,
        scheduledAt: Date? = nil, startedAt: Date, finishedAt: Date? = nil, durationMs: Int64? = nil,
        exitCode: Int32? = nil, signal: Int32? = nil, pid: Int32? = nil, output: String? = nil,
        outputTruncated: Bool = false, outputStreams: [OutputSegment]? = nil, error: String? = nil, cpuMs: Int64? = nil,
        triggeredBy: String? = nil, cancelledBy: String? = nil, triggeredByRun: Int64? = nil, retryOf: Int64? = nil,
        node: String? = nil
    ) {
        self.node = node
        self.retryOf = retryOf
        self.triggeredByRun = triggeredByRun
        self.triggeredBy = triggeredBy
        self.cancelledBy = cancelledBy
        self.cpuMs = cpuMs
        self.outputStreams = outputStreams
        self.id = id
        self.job = job
        self.trigger = trigger
        self.attempt = attempt
        self.status = status
        self.scheduledAt = scheduledAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.durationMs = durationMs
        self.exitCode = exitCode
        self.signal = signal
        self.pid = pid
        self.output = output
        self.outputTruncated = outputTruncated
        self.error = error
    }

    private enum CodingKeys: String, CodingKey {
        case id, job, trigger, attempt, status
        case scheduledAt = "scheduled_at", startedAt = "started_at", finishedAt = "finished_at"
        case durationMs = "duration_ms", exitCode = "exit_code", signal, pid, output
        case outputTruncated = "output_truncated", outputStreams = "output_streams", error, cpuMs = "cpu_ms"
        case triggeredBy = "triggered_by", cancelledBy = "cancelled_by", triggeredByRun = "triggered_by_run"
        case retryOf = "retry_of", node
    }
}
