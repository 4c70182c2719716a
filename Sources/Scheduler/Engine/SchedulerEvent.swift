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

extension SchedulerEvent {
    /// The most bytes of output one merged chunk holds.
    package static let mergedOutputLimit = 64 << 10

    /// Takes `next` into `last` when both are output of one run and stream and `next` starts
    /// where `last` ends (a follower then gets one chunk where the job made many writes).
    package static func mergeOutput(_ last: inout SchedulerEvent, _ next: SchedulerEvent) -> Bool {
        guard case .runOutput(let job, let runID, let offset, var bytes, let stream) = last,
              case let .runOutput(_, nextRun, nextOffset, more, nextStream) = next,
              runID == nextRun, stream == nextStream, offset + Int64(bytes.count) == nextOffset,
              bytes.count + more.count <= mergedOutputLimit else { return false }
        // The event lets go of the bytes first, so that the append below does not copy them.
        last = .jobResumed(job: "")
        bytes.append(contentsOf: more)
        last = .runOutput(job: job, runID: runID, offset: offset, bytes: bytes, stream: stream)
        return true
    }
}

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
        let id = nextID.add(1, ordering: .relaxed).newValue
        let queue = CoalescingQueue<SchedulerEvent>(
            maxCount: bufferSize, overflow: .dropOldest, merge: SchedulerEvent.mergeOutput,
            onDeinit: { [weak self] in self?.unsubscribe(id) })
        subscribers.withLock { $0[id] = Subscriber(queue: queue, wantsOutput: output) }
        if output { outputSubscribers.add(1, ordering: .relaxed) }
        return AsyncStream(unfolding: { await queue.next() }, onCancel: { [weak self] in self?.unsubscribe(id) })
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
