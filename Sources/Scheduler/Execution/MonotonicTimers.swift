import CLinuxEvents
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Deadlines on the monotonic clock, each with an action run on the `DescriptorLoop`'s thread
/// when it is due, unless cancelled first: one `timerfd`, armed for the earliest, for the
/// whole process.
///
/// For a wait that is usually over long before its deadline (a database call's): a sleep
/// raced against the wait costs a task and a timer each time, and Swift's runtime keeps a
/// cancelled sleep's memory until its deadline would have come. A cancelled entry here is
/// gone at once. Actions must be short and must not block: they run on the loop's thread.
package final class MonotonicTimers: Sendable {
    /// The timers shared by the process.
    package static let shared = MonotonicTimers(loop: .shared)

    /// A scheduled action, to cancel.
    package struct Token: Sendable {
        fileprivate let id: UInt64
    }

    private struct State {
        /// The actions not yet run nor cancelled, by deadline.
        var table = DeadlineTable<UInt64, @Sendable () -> Void>()
        /// What the timerfd is armed for (nanoseconds of CLOCK_MONOTONIC; nil: disarmed).
        var armed: UInt64?
    }

    private let fd: Int32
    private let state = Mutex(State())

    /// Like the loop itself, made once per process: one that cannot have its timer (out of
    /// descriptors) could not keep its calls' deadlines, and stops.
    init(loop: DescriptorLoop) {
        fd = timerfd_create(CLOCK_MONOTONIC, Int32(TFD_NONBLOCK | TFD_CLOEXEC))
        precondition(fd >= 0, "schedd cannot create its timer (errno \(errno))")
        let watched = loop.watch(fd) { [self] _ in
            var expirations: UInt64 = 0
            _ = read(fd, &expirations, MemoryLayout<UInt64>.size)
            fireDue()
            return true
        }
        precondition(watched != nil, "schedd cannot watch its timer (errno \(errno))")
    }

    /// Runs `action` once `delay` has passed, unless `cancel` comes first.
    package func schedule(after delay: Duration, _ action: @escaping @Sendable () -> Void) -> Token {
        let (seconds, attoseconds) = max(delay, .zero).components
        let deadline = Self.now() &+ UInt64(seconds) &* 1_000_000_000 &+ UInt64(attoseconds / 1_000_000_000)
        return state.withLock { state -> Token in
            let id = state.table.insert(action, at: deadline)
            if state.armed.map({ deadline < $0 }) ?? true { arm(&state, deadline) }
            return Token(id: id)
        }
    }

    /// Forgets the action (nothing happens if it has run).
    package func cancel(_ token: Token) {
        state.withLock { _ = $0.table.remove(token.id) }
    }

    /// How many actions wait (not run nor cancelled), and how many entries the heap holds.
    var counts: (pending: Int, heap: Int) { state.withLock { ($0.table.counts.live, $0.table.counts.heap) } }

    private func fireDue() {
        let now = Self.now()
        let due = state.withLock { state -> [@Sendable () -> Void] in
            let due = state.table.takeDue(at: now)
            state.armed = nil
            if let earliest = state.table.earliest { arm(&state, earliest) }
            return due
        }
        for action in due { action() }
    }

    /// Under the lock, so that the timerfd is armed for what the state says.
    private func arm(_ state: inout State, _ deadline: UInt64) {
        var spec = itimerspec()
        // Zero disarms: a deadline already past is armed a nanosecond in, and fires at once.
        let at = max(deadline, 1)
        spec.it_value.tv_sec = Int(at / 1_000_000_000)
        spec.it_value.tv_nsec = Int(at % 1_000_000_000)
        _ = timerfd_settime(fd, Int32(TFD_TIMER_ABSTIME), &spec, nil)
        state.armed = deadline
    }

    private static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
}
