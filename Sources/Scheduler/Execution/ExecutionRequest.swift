import Foundation
import Logging
import SchedulerAPI

/// What an executor needs to run one attempt of a job.
public struct ExecutionRequest: Sendable {
    public var spec: JobSpec
    public var runID: Int64
    public var attempt: Int
    /// Extra environment for this run (`SCHEDD_TRIGGERED_BY_*`).
    public var extraEnvironment: [String: String]
    /// The slot this run fires for (its retries keep it); nil for a run started by hand or by
    /// another job.
    public var scheduledAt: Date?
    /// The node that runs it (`SCHEDD_NODE`).
    public var node: String
    public var logger: Logger
    /// Called once the run's process exists, with its pid.
    public var onStart: @Sendable (Int32) async -> Void
    /// Where the run's output goes as it is produced. The executor appends to it; the engine
    /// reads the live tail from it and streams its chunks to clients that follow the run.
    public var output: OutputSink
    /// How the engine asks a process run to stop (a timeout, a cancel): the process executor
    /// sends SIGTERM and reads on until the process and its output end, so that what the job
    /// prints while it stops is kept and cannot kill it with SIGPIPE (`StopsOnRequest`). Other
    /// executors are stopped by cancelling their task.
    let stop = RunControl()

    /// - Parameter output: the run's output sink; by default one that keeps the job's
    ///   `output_limit` and tells nobody.
    public init(spec: JobSpec, runID: Int64, attempt: Int, extraEnvironment: [String: String] = [:], scheduledAt: Date? = nil,
                node: String = NodeName.host, logger: Logger, output: OutputSink? = nil,
                onStart: @escaping @Sendable (Int32) async -> Void = { _ in }) {
        self.scheduledAt = scheduledAt
        self.node = node
        self.spec = spec
        self.runID = runID
        self.attempt = attempt
        self.extraEnvironment = extraEnvironment
        self.logger = logger
        self.output = output ?? OutputSink(limit: Int(spec.effectiveOutputLimit))
        self.onStart = onStart
    }
}
