import Foundation

/// A service's supervision, in `GET /v1/jobs/{name}`.
public struct ServiceStatus: Sendable, Codable, Equatable {
    /// `starting`, `ready`, `stopping`, `waiting` (for what it requires), `restarting`,
    /// `stopped`, `elsewhere` (cluster mode: another node runs it), `failed`, `paused` or
    /// `disabled`; and why, where there is a why.
    public var state: String
    public var reason: String?
    /// The running process, if the service is up.
    public var pid: Int32?
    public var upSince: Date?
    /// Starts within the current `restart_limit` window, and the limit (no `burst` for
    /// `"restart_limit": "none"`, whose window is the last hour).
    public var startsInWindow: Int
    public var burst: Int?
    public var windowSeconds: Int64
    /// When the next restart is due, if one is waiting.
    public var restartAt: Date?

    public init(state: String, reason: String?, pid: Int32?, upSince: Date?, startsInWindow: Int, burst: Int?, windowSeconds: Int64, restartAt: Date?) {
        self.state = state
        self.reason = reason
        self.pid = pid
        self.upSince = upSince
        self.startsInWindow = startsInWindow
        self.burst = burst
        self.windowSeconds = windowSeconds
        self.restartAt = restartAt
    }

    private enum CodingKeys: String, CodingKey {
        case state, reason, pid, upSince = "up_since", startsInWindow = "starts_in_window", burst, windowSeconds = "window_seconds", restartAt = "restart_at"
    }
}
