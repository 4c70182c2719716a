import Foundation

/// One Server-Sent Event of `GET /v1/events`, as the `data:` line's JSON.
public struct EventMessage: Sendable, Codable, Equatable {
    /// `run_queued`, `run_started`, `run_finished`, `retry_scheduled`, `final_result_deferred`,
    /// `job_paused`, `job_resumed`, `follow_up`, `run_output`.
    public var type: String
    public var job: String
    public var at: Date
    public var trigger: RunTrigger?
    public var reason: String?
    public var run: RunRecord?
    /// `run_output`: the run the chunk belongs to; `retry_scheduled`: the failed attempt;
    /// `final_result_deferred`: the run whose final result waits; `job_paused` by
    /// `failure_threshold`: the run whose failure paused the job.
    public var runID: Int64?
    /// `run_output`: where the chunk starts in the run's whole output, in bytes. A client that
    /// has printed up to a smaller offset has missed output (it was too slow, or the kept tail
    /// no longer held it).
    public var offset: Int64?
    /// `run_output`: the chunk's size in bytes (its text may differ where it cut a character).
    public var length: Int?
    /// `run_output`: the chunk as text.
    public var output: String?
    /// `run_output`: the stream the chunk came from.
    public var stream: StandardStream?
    /// `retry_scheduled`: the retry of the failed run `run_id`, its attempt and when it is due.
    public var retry: RetryStatus?
    /// `follow_up`: the job the end of run `run_id` triggers (`reason` says by which field).
    public var target: String?

    public init(type: String, job: String, at: Date, trigger: RunTrigger? = nil, reason: String? = nil, run: RunRecord? = nil,
                runID: Int64? = nil, offset: Int64? = nil, length: Int? = nil, output: String? = nil, stream: StandardStream? = nil,
                retry: RetryStatus? = nil, target: String? = nil) {
        self.target = target
        self.retry = retry
        self.stream = stream
        self.type = type
        self.job = job
        self.at = at
        self.trigger = trigger
        self.reason = reason
        self.run = run
        self.runID = runID
        self.offset = offset
        self.length = length
        self.output = output
    }

    private enum CodingKeys: String, CodingKey {
        case type, job, at, trigger, reason, run, offset, length, output, stream, retry, target
        case runID = "run_id"
    }

    /// The id of the run this event is about, if any.
    public var aboutRun: Int64? { runID ?? run?.id }
}
