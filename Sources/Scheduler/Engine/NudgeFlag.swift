import Synchronization

/// A flag set from any thread and taken (read and cleared) by a loop: another node's word that
/// the queue of slots has something, or that someone follows a run's output.
package final class NudgeFlag: Sendable {
    private let value = Atomic<Bool>(false)
    package init() {}
    package func set() { value.store(true, ordering: .relaxed) }
    /// Whether it was set; cleared.
    package func take() -> Bool { value.exchange(false, ordering: .relaxed) }
}
