import Foundation
import SchedulerAPI

/// The engine's in-memory view of one job.
struct JobEntry {
    /// The definition, shared with the store's decode cache (`SharedValue`): 10,000 entries
    /// would otherwise hold 10,000 more copies of 641 bytes, and the dictionary of entries as
    /// many empty slots of that size again.
    private(set) var sharedSpec: SharedValue<JobSpec>
    var spec: JobSpec {
        get { sharedSpec.value }
        set { sharedSpec = SharedValue(newValue) }
    }
    var schedule: Schedule?
    var zone: ZoneRules
    var state: JobState
    /// The next scheduled fire time, and when it is due (with jitter).
    var nextSlot: Date?
    var nextDue: Date?
    /// Recent starts of a service, for `restart_limit`.
    var serviceStarts: [Date] = []
    /// Restarts of a service in a row that did not stay up for `restart_reset_after`: the
    /// restart delay doubles with each.
    var restartStreak = 0
    /// The active run of a service that has passed its readiness (`ready_after`, `ready_check`).
    var readyRunID: Int64?
    /// Stopped with `schedctl stop`: down until `start` or `restart` (or the daemon's next start).
    var stoppedByHand = false
    /// Why a service is down for what it requires; it starts again once that is ready.
    var downBecause: String?
    /// `schedctl restart`, or a changed definition: the end of the active run starts the
    /// service again at once.
    var restartRequested: RestartRequest?

    init(spec: JobSpec, state: JobState, defaultZone: ZoneRules) {
        self.init(sharedSpec: SharedValue(spec), state: state, defaultZone: defaultZone)
    }

    init(sharedSpec: SharedValue<JobSpec>, state: JobState, defaultZone: ZoneRules) {
        self.sharedSpec = sharedSpec
        let spec = sharedSpec.value
        self.state = state
        schedule = spec.schedule.flatMap { try? Schedule(parsing: $0) }
        zone = spec.timezone.flatMap(ZoneRules.named) ?? defaultZone
    }

    /// Whether it is read in the engine's zone: it names none (or one this node does not know).
    var readsDefaultZone: Bool { spec.timezone.flatMap(ZoneRules.named) == nil }

    /// Whether it may start: enabled and not paused.
    var canStart: Bool { spec.isEnabled && !state.paused }

    /// The fire times after `lastFire` up to `now`: how many there are, and the latest 100
    /// (oldest first), so that a long outage costs no more than that.
    func dueSlots(now: Date) -> (slots: [Date], total: Int) {
        guard let first = nextSlot, first <= now, let schedule else { return ([], 0) }
        switch schedule {
        case let .every(ms):
            let interval = Double(ms) / 1000
            let total = Int((now.timeIntervalSince(first) / interval).rounded(.down)) + 1
            let kept = min(total, 100)
            return ((total - kept..<total).map { first.addingTimeInterval(Double($0) * interval) }, total)
        case let .cron(expression):
            var slots: [Date] = []
            var cursor = now.addingTimeInterval(0.001)
            while slots.count <= 100, let previous = expression.previous(before: cursor, in: zone), previous >= first {
                slots.append(previous)
                cursor = previous
            }
            let total = slots.count
            return (Array(slots.prefix(100).reversed()), total)
        case .reboot:
            return ([], 0)
        }
    }

    /// The first fire time after `date`.
    func slot(after date: Date) -> Date? { schedule?.next(after: date, in: zone) }
}
