import Synchronization

/// A flag set from any thread and taken (read and cleared) by the engine: another node's word
/// that the queue of slots has something.
final class NudgeFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .relaxed) }
    /// Whether it was set; cleared.
    func take() -> Bool { value.exchange(false, ordering: .relaxed) }
}
