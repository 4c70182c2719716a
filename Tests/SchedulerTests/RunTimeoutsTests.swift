import Foundation
import Testing
@testable import Scheduler

@Suite struct RunTimeoutsTests {
    func withTimeouts(_ clock: ManualClock, _ body: (RunTimeouts) async throws -> Void) async throws {
        let timeouts = RunTimeouts()
        try await whileServing({ await timeouts.run(clock: clock) }, stop: timeouts.stop) { try await body(timeouts) }
    }

    @Test func aRunIsStoppedAtItsTimeoutAndNotBefore() async throws {
        let clock = ManualClock(t0)
        try await withTimeouts(clock) { timeouts in
            let control = RunControl()
            _ = timeouts.add(t0.addingTimeInterval(10), control)
            try await waitFor("the timeouts to sleep until the deadline") { clock.nextDeadline == t0.addingTimeInterval(10) }
            clock.advance(to: t0.addingTimeInterval(9.999))
            #expect(control.stopRequest == nil)
            clock.advance(to: t0.addingTimeInterval(10))
            #expect(await control.waitForStop() == .timedOut)
            #expect(timeouts.counts.live == 0)
        }
    }

    /// A run that ended first is never stopped: the later timeout of another run firing is the
    /// barrier (deadlines are served in order).
    @Test func aRemovedTimeoutNeverFires() async throws {
        let clock = ManualClock(t0)
        try await withTimeouts(clock) { timeouts in
            let ended = RunControl(), running = RunControl()
            let token = timeouts.add(t0.addingTimeInterval(5), ended)
            _ = timeouts.add(t0.addingTimeInterval(6), running)
            timeouts.remove(token)
            clock.advance(to: t0.addingTimeInterval(6))
            #expect(await running.waitForStop() == .timedOut)
            #expect(ended.stopRequest == nil)
        }
    }

    /// An earlier deadline than the one slept for is served at its time.
    @Test func anEarlierTimeoutAddedLaterFiresFirst() async throws {
        let clock = ManualClock(t0)
        try await withTimeouts(clock) { timeouts in
            let long = RunControl(), short = RunControl()
            _ = timeouts.add(t0.addingTimeInterval(3600), long)
            try await waitFor("the timeouts to sleep") { clock.nextDeadline == t0.addingTimeInterval(3600) }
            _ = timeouts.add(t0.addingTimeInterval(1), short)
            try await waitFor("the timeouts to sleep until the earlier deadline") { clock.nextDeadline == t0.addingTimeInterval(1) }
            clock.advance(to: t0.addingTimeInterval(1))
            #expect(await short.waitForStop() == .timedOut)
            // The long one sleeps on: its sleep is the barrier after the short one's.
            try await waitFor("the timeouts to sleep until the long deadline") { clock.nextDeadline == t0.addingTimeInterval(3600) }
            #expect(long.stopRequest == nil && timeouts.counts.live == 1)
        }
    }

    @Test func aCancelBeforeTheTimeoutWinsAndTheTimeoutAfterChangesNothing() async throws {
        let clock = ManualClock(t0)
        try await withTimeouts(clock) { timeouts in
            let control = RunControl()
            _ = timeouts.add(t0.addingTimeInterval(2), control)
            control.cancel("cancelled by schedctl", by: "alice")
            clock.advance(to: t0.addingTimeInterval(2))
            try await waitFor("the timeout to be served") { timeouts.counts.live == 0 }
            #expect(await control.waitForStop() == .cancelled("cancelled by schedctl"))
            #expect(control.by == "alice")
        }
    }

    /// Runs end long before their timeouts: what they leave in the heap is dropped, so it holds
    /// about what is live, not every run of the last hour.
    @Test func theHeapHoldsAboutWhatIsLive() async throws {
        let clock = ManualClock(t0)
        try await withTimeouts(clock) { timeouts in
            let live = (0..<10).map { _ in timeouts.add(t0.addingTimeInterval(3600), RunControl()) }
            for index in 0..<10_000 {
                let token = timeouts.add(t0.addingTimeInterval(3600 + Double(index)), RunControl())
                timeouts.remove(token)
            }
            #expect(timeouts.counts.live == 10)
            #expect(timeouts.counts.heap <= 64)
            live.forEach(timeouts.remove)
            #expect(timeouts.counts.live == 0)
        }
    }
}
