import Foundation
import SchedulerAPI
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A clock that moves only when told to: for tests of schedules and policies.
public final class ManualClock: SchedulerClock {
    private struct State {
        var now: Date
        /// Moves with `advance`, not with `step`.
        var monotonic: Duration = .zero
        var nextID = 0
        var sleepsBegun = 0
        var sleepers: [Int: (deadline: Date, continuation: CheckedContinuation<Void, any Error>)] = [:]
        var zone: ZoneRules?
    }

    private let state: Mutex<State>

    public init(_ now: Date) { state = Mutex(State(now: now)) }

    public func now() -> Date { state.withLock { $0.now } }

    /// The earliest deadline anyone sleeps until.
    public var nextDeadline: Date? { state.withLock { $0.sleepers.values.map(\.deadline).min() } }

    /// How many sleeps were asked of the clock so far: what tests count to see that the engine
    /// does not start a sleep per turn.
    var sleepsBegun: Int { state.withLock { $0.sleepsBegun } }

    public func monotonicNow() -> Duration? { state.withLock { $0.monotonic } }

    /// Nil until `setLocalZone` is called.
    public func localZone() -> ZoneRules? { state.withLock { $0.zone } }

    /// Changes the host's zone (`timedatectl set-timezone`) without time passing, and wakes
    /// every sleeper, as the system clock's sleep returns early on a change.
    public func setLocalZone(_ zone: ZoneRules?) {
        let sleepers = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            state.zone = zone
            defer { state.sleepers = [:] }
            return state.sleepers.values.map(\.continuation)
        }
        sleepers.forEach { $0.resume() }
    }

    /// Moves the clock to `date` (never backwards) and wakes the sleepers that are due: time
    /// passing.
    public func advance(to date: Date) {
        let due = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            if date > state.now {
                state.monotonic += .milliseconds(Int64((date.timeIntervalSince(state.now) * 1000).rounded()))
                state.now = date
            }
            let ready = state.sleepers.filter { $0.value.deadline <= state.now }
            for id in ready.keys { state.sleepers[id] = nil }
            return ready.map(\.value.continuation)
        }
        due.forEach { $0.resume() }
    }

    public func advance(by seconds: TimeInterval) { advance(to: now().addingTimeInterval(seconds)) }

    /// Sets the wall clock `seconds` forward or back without time passing (`date -s`), and
    /// wakes every sleeper, as the system clock's sleep returns early on a step.
    public func step(by seconds: TimeInterval) {
        let sleepers = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            state.now = state.now.addingTimeInterval(seconds)
            defer { state.sleepers = [:] }
            return state.sleepers.values.map(\.continuation)
        }
        sleepers.forEach { $0.resume() }
    }

    public func sleep(until deadline: Date) async throws {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            state.sleepsBegun += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow = state.withLock { state -> Bool in
                    if deadline <= state.now || Task.isCancelled { return true }
                    state.sleepers[id] = (deadline, continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let continuation = state.withLock { $0.sleepers.removeValue(forKey: id)?.continuation }
            continuation?.resume(throwing: CancellationError())
        }
        try Task.checkCancellation()
    }
}
