import Synchronization
import Testing
@testable import Scheduler

@Suite struct MonotonicTimersTests {
    /// Each test has timers of its own (a timerfd on the shared loop), so that counts are its.
    let timers = MonotonicTimers(loop: .shared)

    @Test func anActionRunsOnceItsDelayHasPassed() async {
        let start = ContinuousClock.now
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            _ = timers.schedule(after: .milliseconds(30)) { done.resume() }
        }
        // Never early (a lower bound cannot flake on a slow machine).
        #expect(ContinuousClock.now - start >= .milliseconds(30))
        #expect(timers.counts.pending == 0)
    }

    /// The barrier: a later action has run, and deadlines are served in order, so a cancelled
    /// earlier one would have run by then.
    @Test func aCancelledActionNeverRuns() async {
        let ran = Atomic<Bool>(false)
        let cancelled = timers.schedule(after: .milliseconds(10)) { ran.store(true, ordering: .relaxed) }
        timers.cancel(cancelled)
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            _ = timers.schedule(after: .milliseconds(40)) { done.resume() }
        }
        let didRun = ran.load(ordering: .relaxed)
        #expect(!didRun)
    }

    /// The timer is armed for an hour; an action due sooner arms it again.
    @Test func anEarlierActionScheduledLaterRunsFirst() async {
        let long = timers.schedule(after: .seconds(3600)) {}
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            _ = timers.schedule(after: .milliseconds(5)) { done.resume() }
        }
        #expect(timers.counts.pending == 1)
        timers.cancel(long)
        #expect(timers.counts.pending == 0)
    }

    /// Calls answer long before their deadlines: what they leave behind is dropped.
    @Test func theHeapHoldsAboutWhatIsPending() {
        let kept = (0..<10).map { _ in timers.schedule(after: .seconds(3600)) {} }
        for _ in 0..<10_000 { timers.cancel(timers.schedule(after: .seconds(3600)) {}) }
        #expect(timers.counts.pending == 10)
        #expect(timers.counts.heap <= 64)
        kept.forEach(timers.cancel)
    }
}
