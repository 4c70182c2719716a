import Foundation
import SchedulerAPI
import Testing
@testable import Scheduler

@Suite struct CoalescingQueueTests {
    func output(_ text: String, at offset: Int64, run: Int64 = 1, stream: StandardStream = .stdout) -> SchedulerEvent {
        .runOutput(job: "j", runID: run, offset: offset, bytes: Array(text.utf8), stream: stream)
    }

    func eventQueue(_ maxCount: Int = 8) -> CoalescingQueue<SchedulerEvent> {
        CoalescingQueue(maxCount: maxCount, overflow: .dropOldest, merge: SchedulerEvent.mergeOutput)
    }

    @Test func outputThatFollowsOnWaitsAsOneChunk() async {
        let queue = eventQueue()
        queue.push(output("a", at: 0))
        queue.push(output("bc", at: 1))
        queue.push(output("d", at: 3))
        // Another stream, a gap, another run: each a chunk of its own.
        queue.push(output("e", at: 4, stream: .stderr))
        queue.push(output("f", at: 9, stream: .stderr))
        queue.push(output("g", at: 10, run: 2, stream: .stderr))
        queue.push(.jobResumed(job: "j"))
        queue.push(output("h", at: 11, run: 2, stream: .stderr))
        queue.finish()
        var got: [SchedulerEvent] = []
        while let event = await queue.next() { got.append(event) }
        #expect(got == [output("abcd", at: 0), output("e", at: 4, stream: .stderr), output("f", at: 9, stream: .stderr),
                        output("g", at: 10, run: 2, stream: .stderr), .jobResumed(job: "j"), output("h", at: 11, run: 2, stream: .stderr)])
    }

    @Test func aMergedChunkHoldsAtMost64KiB() async {
        let queue = eventQueue()
        let piece = String(repeating: "x", count: 1000)
        for i in 0..<100 { queue.push(output(piece, at: Int64(i * 1000))) }
        queue.finish()
        var sizes: [Int] = []
        var next: Int64 = 0
        while case let .runOutput(_, _, offset, bytes, _)? = await queue.next() {
            #expect(offset == next)
            next += Int64(bytes.count)
            sizes.append(bytes.count)
        }
        #expect(sizes == [65_000, 35_000])
    }

    @Test func dropOldestKeepsTheNewest() async {
        let queue = eventQueue(2)
        for name in ["a", "b", "c"] { queue.push(.jobResumed(job: name)) }
        #expect(await queue.next() == .jobResumed(job: "b"))
        #expect(await queue.next() == .jobResumed(job: "c"))
    }

    @Test func refuseLeavesOutWhatDoesNotFitUnlessForced() async {
        let queue = CoalescingQueue<String>(maxCount: 2, maxSize: 10, overflow: .refuse, sizeOf: \.utf8.count, merge: { _, _ in false })
        #expect(queue.push("abcd"))
        #expect(queue.push("efgh"))
        #expect(!queue.push("i"))
        #expect(queue.push("last", force: true))
        queue.finish()
        #expect(!queue.push("after"))
        var got: [String] = []
        while let text = await queue.next() { got.append(text) }
        #expect(got == ["abcd", "efgh", "last"])
        let bySize = CoalescingQueue<String>(maxCount: 10, maxSize: 5, overflow: .refuse, sizeOf: \.utf8.count, merge: { _, _ in false })
        #expect(bySize.push("abc"))
        #expect(!bySize.push("def"))
    }

    @Test func aWaitingConsumerGetsTheNextElementAndCanBeCancelled() async throws {
        let queue = eventQueue()
        async let first = queue.next()
        try await waitFor("the consumer to wait") { queue.consumerWaits }
        queue.push(.jobResumed(job: "a"))
        #expect(await first == .jobResumed(job: "a"))
        #expect(!queue.consumerWaits)
        let waiting = Task { await queue.next() }
        try await waitFor("the second consumer to wait") { queue.consumerWaits }
        waiting.cancel()
        #expect(await waiting.value == nil)
        #expect(!queue.consumerWaits)
    }

    /// A subscription ends when its stream is released: output then costs nothing again.
    @Test func aReleasedSubscriptionEnds() async {
        let bus = EventBus()
        var stream: AsyncStream<SchedulerEvent>? = bus.subscribe(output: true)
        #expect(bus.hasOutputSubscribers)
        _ = stream
        stream = nil
        #expect(!bus.hasOutputSubscribers)
    }
}
