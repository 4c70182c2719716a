import Foundation
import SchedulerAPI
import Synchronization

/// The `--config` job file and how its last reload went (SIGHUP or `schedctl reload`): a
/// refused reload stays in `schedctl status` and systemd's `STATUS=` until one succeeds, the
/// jobs running as they were loaded before. (`systemctl reload` sends a signal and cannot say
/// that the file was refused.)
public final class JobFileReloads: Sendable {
    public let path: String
    private let refusal = Mutex<(at: Date, error: String)?>(nil)

    public init(path: String) {
        self.path = path
    }

    public func succeeded() {
        refusal.withLock { $0 = nil }
    }

    /// `error`: the refusal's message with the file's errors, one per line.
    public func refused(_ error: String, at date: Date = Date()) {
        refusal.withLock { $0 = (date, error) }
    }

    /// Whether a reload's error is the file's (unreadable, invalid, in conflict with the jobs
    /// there are), not the database's or schedd's.
    public static func isRefusal(_ error: any Error) -> Bool {
        guard let error = error as? APIError else { return false }
        return [.invalidJobFile, .invalidSchedule, .invalidArgument, .conflict, .forbidden].contains(error.code)
    }

    /// The file as `GET /v1/status` shows it.
    public var status: StatusResponse.ConfigFile {
        let refused = refusal.withLock { $0 }
        return StatusResponse.ConfigFile(path: path, reloadRefusedAt: refused?.at, reloadError: refused?.error)
    }

    /// systemd's one-line `STATUS=`: the engine's summary, and the refusal's first two lines.
    public func statusLine(_ summary: String) -> String {
        guard let error = refusal.withLock({ $0?.error }) else { return summary }
        return "\(summary); job file refused: \(error.split(separator: "\n").prefix(2).joined(separator: " "))"
    }
}
