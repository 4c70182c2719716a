import SchedulerAPI
import Synchronization

/// Fans events out to every subscriber. A slow subscriber loses its oldest events rather than
/// holding up the engine; output chunks of one run waiting for it are merged first.
public final class EventBus: Sendable {
    private struct Subscriber {
        /// Weak: the subscriber's stream holds its queue, and releasing the stream ends the
        /// subscription.
        weak var queue: CoalescingQueue<SchedulerEvent>?
        var wantsOutput: Bool
    }

    private let subscribers = Mutex<[Int: Subscriber]>([:])
    private let nextID = Atomic<Int>(0)
    /// Read without the lock on every chunk a run prints, so that output costs nothing when
    /// nobody follows it.
    private let outputSubscribers = Atomic<Int>(0)

    public init() {}

    /// A stream of the events published from now on; with `output`, also every run's output
    /// chunks. A subscriber that falls `bufferSize` events behind loses the oldest (chunks of
    /// a run's output that follow each other wait as one, up to 64 KiB).
    public func subscribe(bufferSize: Int = 1024, output: Bool = false) -> AsyncStream<SchedulerEvent> {
        subscription(bufferSize: bufferSize, output: output).events
    }

    /// As `subscribe`, with a way to end the subscription that lets its consumer take what was
    /// queued before it ends.
    public func subscription(bufferSize: Int = 1024, output: Bool = false) -> EventSubscription {
        let id = nextID.add(1, ordering: .relaxed).newValue
        let queue = CoalescingQueue<SchedulerEvent>(
            maxCount: bufferSize, overflow: .dropOldest, merge: SchedulerEvent.mergeOutput,
            onDeinit: { [weak self] in self?.unsubscribe(id) })
        subscribers.withLock { $0[id] = Subscriber(queue: queue, wantsOutput: output) }
        if output { outputSubscribers.add(1, ordering: .relaxed) }
        return EventSubscription(events: AsyncStream(unfolding: { await queue.next() }, onCancel: { [weak self] in self?.unsubscribe(id) }),
                                 end: { [weak self] in self?.unsubscribe(id) })
    }

    /// Whether anyone follows runs' output now.
    var hasOutputSubscribers: Bool { outputSubscribers.load(ordering: .relaxed) > 0 }

    private func unsubscribe(_ id: Int) {
        let removed = subscribers.withLock { $0.removeValue(forKey: id) }
        removed?.queue?.finish()
        if removed?.wantsOutput == true { outputSubscribers.subtract(1, ordering: .relaxed) }
    }

    func publish(_ event: SchedulerEvent) {
        let targets = subscribers.withLock { $0.values.compactMap(\.queue) }
        for queue in targets { queue.push(event) }
    }

    /// A chunk of a run's output, to the subscribers that asked for output.
    func publishOutput(job: String, runID: Int64, offset: Int64, bytes: UnsafeRawBufferPointer, stream: StandardStream) {
        guard outputSubscribers.load(ordering: .relaxed) > 0 else { return }
        let targets = subscribers.withLock { $0.values.filter(\.wantsOutput).compactMap(\.queue) }
        guard !targets.isEmpty else { return }
        let event = SchedulerEvent.runOutput(job: job, runID: runID, offset: offset, bytes: Array(bytes), stream: stream)
        for queue in targets { queue.push(event) }
    }
}
