import Foundation
import Synchronization

/// Wakes the engine's main loop at its next deadline (a fire, a retry, the end of a grace
/// period, …) from one task that lives as long as the engine.
///
/// Not a sleep per wait: the main loop turns once or twice per run, and a wait that raced a
/// sleep against the wake-up signal left, each time the signal won, a cancelled sleep whose
/// memory Swift's runtime keeps until the sleep's deadline would have come (up to 30 s ahead
/// with the system clock), so that a busy daemon grew with its rate of runs
/// (docs/performance.md). Here the loop sets a deadline each turn; the alarm's sleep is cut short (and so
/// cancelled) only when the deadline moves before the time it sleeps until, which is rare (a
/// job added, a retry due sooner); a deadline that moved later only makes it sleep again.
final class WakeAlarm: Sendable {
    private struct State {
        /// When the loop wants to be woken (nil: by a signal only).
        var deadline: Date?
        /// The time the sleep under way ends (nil: none under way).
        var sleepingUntil: Date?
        /// The alarm waiting for a deadline, or for one earlier than its sleep's.
        var waiter: CheckedContinuation<Void, Never>?
        var stopped = false

        /// Whether the alarm has something to do other than go on as it is.
        var mustWake: Bool {
            guard !stopped else { return true }
            guard let deadline else { return false }
            return sleepingUntil.map { deadline < $0 } ?? true
        }

        mutating func takeWaiter() -> CheckedContinuation<Void, Never>? {
            defer { waiter = nil }
            return waiter
        }
    }

    private let state = Mutex(State())

    /// Replaces the deadline (nil: none).
    func set(_ deadline: Date?) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.deadline = deadline
            return state.mustWake ? state.takeWaiter() : nil
        }
        waiter?.resume()
    }

    /// Ends `run()`.
    func stop() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.stopped = true
            return state.takeWaiter()
        }
        waiter?.resume()
    }

    /// Until `stop()` or cancellation: sleeps until each deadline and, when one is reached,
    /// signals `wakeup` and forgets it (the loop sets the next one on its turn).
    func run(clock: any SchedulerClock, wakeup: Wakeup) async {
        // A step of the wall clock or a change of the local zone since the alarm last looked
        // (after the owner's last turn, before this sleep: the sleep itself only sees one while
        // it sleeps) is the owner's to see at once: its deadlines may have moved.
        var watch = ClockStepWatch()
        _ = watch.zoneChanged(clock)
        while let target = await nextTarget() {
            if watch.changed(clock) { wakeup.signal() }
            let reached = await withTaskGroup(of: Bool.self) { [watch] group in
                group.addTask {
                    do {
                        // The system clock's sleep looks for a change since this alarm's
                        // look just above, so that one in between is not missed.
                        if let system = clock as? SystemClock {
                            try await system.sleep(until: target, since: watch)
                        } else {
                            try await clock.sleep(until: target)
                        }
                        return true
                    } catch {
                        return false
                    }
                }
                group.addTask {
                    await self.waitUntilWoken()
                    return false
                }
                let first = await group.next() ?? false
                group.cancelAll()
                return first
            }
            let now = clock.now()
            let due = state.withLock { state -> Bool in
                state.sleepingUntil = nil
                guard reached, let deadline = state.deadline, deadline <= now else { return false }
                state.deadline = nil
                return true
            }
            // A sleep that ended before its time: the wall clock was stepped or the local zone
            // changed, and the owner moves what it keeps before its deadlines are due.
            if due || (reached && now < target) { wakeup.signal() }
        }
    }

    /// The deadline to sleep until, once there is one; nil once stopped or cancelled.
    private func nextTarget() async -> Date? {
        while true {
            let target = state.withLock { state -> Date?? in
                if state.stopped || Task.isCancelled { return .some(nil) }
                guard let deadline = state.deadline else { return nil }
                state.sleepingUntil = deadline
                return .some(deadline)
            }
            if let target { return target }
            await waitUntilWoken()
        }
    }

    /// Returns when `set` or `stop` finds that the alarm must look again (at once if that is
    /// already so), or when the task is cancelled.
    private func waitUntilWoken() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.mustWake || Task.isCancelled { return true }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.takeWaiter() }?.resume()
        }
    }
}
