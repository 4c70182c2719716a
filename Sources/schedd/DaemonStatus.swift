import Synchronization

/// What the daemon adds to the engine's summary in `STATUS=`: a refused reload stays visible
/// until a later one succeeds.
final class DaemonStatus: Sendable {
    private let reloadError = Mutex<String?>(nil)

    func reloadFailed(_ message: String) { reloadError.withLock { $0 = message } }
    func reloadSucceeded() { reloadError.withLock { $0 = nil } }

    func line(_ summary: String) -> String {
        guard let error = reloadError.withLock({ $0 }) else { return summary }
        return "\(summary); job file refused: \(error)"
    }
}
