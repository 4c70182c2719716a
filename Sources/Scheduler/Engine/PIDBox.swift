import Synchronization

/// Where the executor reports the pid of the run's process.
final class PIDBox: Sendable {
    private let storage = Mutex<Int32?>(nil)
    func set(_ pid: Int32) { storage.withLock { $0 = pid } }
    var value: Int32? { storage.withLock { $0 } }
}
