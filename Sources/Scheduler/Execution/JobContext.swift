import Foundation
import Logging
import SchedulerAPI
import Synchronization

/// What an in-process handler is given for one run.
public struct JobContext: Sendable {
    public let job: String
    public let runID: Int64
    public let attempt: Int
    /// The slot this run fires for (its retries keep it); nil for a run started by hand or by
    /// another job.
    public let scheduledAt: Date?
    /// The node that runs it.
    public let node: String
    /// The job's `params` object, if it has one.
    public let params: JSONValue?
    /// A logger with the job and run in its metadata.
    public let logger: Logger
    let sink: OutputSink

    /// Adds text to the run's captured output (kept like a process's output, the tail up to
    /// `output_limit`).
    public func print(_ text: String) {
        sink.append(Array((text + "\n").utf8))
    }
}
