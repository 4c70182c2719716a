import SchedulerAPI
import Synchronization

/// What the engine reports as it works: the source of `GET /v1/events` and of test waits.
public enum SchedulerEvent: Sendable, Equatable {
    case runQueued(job: String, trigger: RunTrigger)
    case runStarted(RunRecord)
    case runFinished(RunRecord)
    case jobPaused(job: String, reason: String)
    case jobResumed(job: String)
    /// A chunk of a running run's output; `offset` is where it starts in the run's whole
    /// output. Only subscribers that asked for output get these.
    case runOutput(job: String, runID: Int64, offset: Int64, bytes: [UInt8], stream: StandardStream)
}

/// Fans events out to every subscriber. A slow subscriber loses its oldest events rather than
/// holding up the engine.
public final class EventBus: Sendable {
    private struct Subscriber {
        var continuation: AsyncStream<SchedulerEvent>.Continuation
        var wantsOutput: Bool
    }

    private let subscribers = Mutex<[Int: Subscriber]>([:])
    private let nextID = Atomic<Int>(0)
    /// Read without the lock on every chunk a run prints, so that output costs nothing when
    /// nobody follows it.
    private let outputSubscribers = Atomic<Int>(0)

    public init() {}

    /// A stream of the events published from now on; with `output`, also every run's output
    /// chunks. A subscriber that falls `bufferSize` events behind loses the oldest.
    public func subscribe(bufferSize: Int = 1024, output: Bool = false) -> AsyncStream<SchedulerEvent> {
        let id = nextID.add(1, ordering: .relaxed).newValue
        let (stream, continuation) = AsyncStream.makeStream(of: SchedulerEvent.self, bufferingPolicy: .bufferingNewest(bufferSize))
        continuation.onTermination = { [weak self] _ in
            guard let self else { return }
            let removed = subscribers.withLock { $0.removeValue(forKey: id) }
            if removed?.wantsOutput == true { outputSubscribers.subtract(1, ordering: .relaxed) }
        }
        subscribers.withLock { $0[id] = Subscriber(continuation: continuation, wantsOutput: output) }
        if output { outputSubscribers.add(1, ordering: .relaxed) }
        return stream
    }

    func publish(_ event: SchedulerEvent) {
        let targets = subscribers.withLock { $0.values.map(\.continuation) }
        for continuation in targets { continuation.yield(event) }
    }

    /// A chunk of a run's output, to the subscribers that asked for output.
    func publishOutput(job: String, runID: Int64, offset: Int64, bytes: UnsafeRawBufferPointer, stream: StandardStream) {
        guard outputSubscribers.load(ordering: .relaxed) > 0 else { return }
        let targets = subscribers.withLock { $0.values.filter(\.wantsOutput).map(\.continuation) }
        guard !targets.isEmpty else { return }
        let event = SchedulerEvent.runOutput(job: job, runID: runID, offset: offset, bytes: Array(bytes), stream: stream)
        for continuation in targets { continuation.yield(event) }
    }
}
