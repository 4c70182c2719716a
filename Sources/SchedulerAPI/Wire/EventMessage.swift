import Foundation

/// One Server-Sent Event of `GET /v1/events`, as the `data:` line's JSON.
public struct EventMessage: Sendable, Codable, Equatable {
    /// `run_queued`, `run_started`, `run_finished`, `job_paused`, `job_resumed`.
    public var type: String
    public var job: String
    public var at: Date
    public var trigger: RunTrigger?
    public var reason: String?
    public var run: RunRecord?

    public init(type: String, job: String, at: Date, trigger: RunTrigger? = nil, reason: String? = nil, run: RunRecord? = nil) {
        self.type = type
        self.job = job
        self.at = at
        self.trigger = trigger
        self.reason = reason
        self.run = run
    }
}
