import SchedulerAPI
import Synchronization

/// What the engine reports as it works: the source of `GET /v1/events` and of test waits.
public enum SchedulerEvent: Sendable, Equatable {
    case runQueued(job: String, trigger: RunTrigger)
    case runStarted(RunRecord)
    case runFinished(RunRecord)
    case jobPaused(job: String, reason: String)
    case jobResumed(job: String)
}

/// Fans events out to every subscriber. A slow subscriber loses its oldest events rather than
/// holding up the engine.
public final class EventBus: Sendable {
    private let subscribers = Mutex<[Int: AsyncStream<SchedulerEvent>.Continuation]>([:])
    private let nextID = Atomic<Int>(0)

    public init() {}

    /// A stream of the events published from now on.
    public func subscribe(bufferSize: Int = 1024) -> AsyncStream<SchedulerEvent> {
        let id = nextID.add(1, ordering: .relaxed).newValue
        let (stream, continuation) = AsyncStream.makeStream(of: SchedulerEvent.self, bufferingPolicy: .bufferingNewest(bufferSize))
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.removeValue(forKey: id) }
        }
        subscribers.withLock { $0[id] = continuation }
        return stream
    }

    func publish(_ event: SchedulerEvent) {
        let targets = subscribers.withLock { Array($0.values) }
        for continuation in targets { continuation.yield(event) }
    }
}
