import Synchronization

/// A flag set once from any thread and read from any other: a signal handler's callback for
/// the engine, a run's output reader for its exit poll.
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .relaxed) }
    var isSet: Bool { value.load(ordering: .relaxed) }
}
