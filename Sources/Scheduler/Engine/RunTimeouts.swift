import Foundation
import Synchronization

/// The timeouts of the runs going on, kept in one heap and served by one task for the
/// engine's lifetime: a run with a `timeout` is stopped through its `RunControl` when it is
/// due.
///
/// Not a sleep per run raced against its end: the run's end cancelled the sleep, and Swift's
/// runtime keeps a cancelled sleep's memory until its deadline would have come (up to 30 s
/// ahead with the system clock), so that a daemon running jobs with a timeout grew with its
/// rate of runs, and each run paid for a group of two more tasks. Here a run's end
/// removes its entry; the task sleeps (through a `WakeAlarm`) until the earliest deadline.
final class RunTimeouts: Sendable {
    /// A registered timeout, to remove when its run has ended.
    struct Token: Sendable {
        fileprivate let id: UInt64
    }

    private struct State {
        /// The timeouts not yet due nor removed.
        var table = DeadlineTable<Date, RunControl>()
        var stopped = false
    }

    private let state = Mutex(State())
    private let wakeup = Wakeup()
    private let alarm = WakeAlarm()

    /// How many timeouts are registered (not yet due nor removed), and how many entries the
    /// heap holds for them.
    var counts: (live: Int, heap: Int) { state.withLock { $0.table.counts } }

    /// Stops `control`'s run at `deadline` (`RunControl.timeOut()`), unless removed before.
    func add(_ deadline: Date, _ control: RunControl) -> Token {
        let (id, earliest) = state.withLock { state -> (UInt64, Bool) in
            let earliest = state.table.earliest.map { deadline < $0 } ?? true
            return (state.table.insert(control, at: deadline), earliest)
        }
        // The serving task sets the alarm to the earliest deadline: it must look again.
        if earliest { wakeup.signal() }
        return Token(id: id)
    }

    /// The run has ended: its timeout is forgotten.
    func remove(_ token: Token) {
        state.withLock { _ = $0.table.remove(token.id) }
    }

    /// Ends `run()`.
    func stop() {
        state.withLock { $0.stopped = true }
        wakeup.signal()
    }

    /// Until `stop()` or cancellation: stops each run whose timeout is due.
    func run(clock: any SchedulerClock) async {
        let alarm = self.alarm
        let wakeup = self.wakeup
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await alarm.run(clock: clock, wakeup: wakeup) }
            var watch = ClockStepWatch()
            while true {
                let now = clock.now()
                // A timeout is so long after its run's start in real time: a step of the wall
                // clock (set forward an hour, say) moves it along, or every run would time out.
                let step = watch.step(clock)
                let (due, next, stopped) = state.withLock { state -> ([RunControl], Date?, Bool) in
                    if let step { state.table.shift { $0.addingTimeInterval(step) } }
                    let due = state.table.takeDue(at: now)
                    return (due, state.table.earliest, state.stopped)
                }
                for control in due { control.timeOut() }
                if stopped || Task.isCancelled { break }
                alarm.set(next)
                await wakeup.wait()
            }
            alarm.stop()
        }
    }
}
