import Foundation
import Synchronization

/// The UTC offsets of a time zone over time, as a table of transitions, so that next-fire
/// computations need no calls into Foundation's time zone code on the hot path.
///
/// The table covers 1900 to 2200, read once per zone from Foundation; outside it, the offset
/// of the nearest end is used.
public final class ZoneRules: Sendable {
    public let identifier: String
    /// Instants (Unix seconds) at which the offset changes, ascending.
    let transitions: [Int64]
    /// `offsets[i]` is in force from `transitions[i - 1]` (or forever before, for i = 0) until
    /// `transitions[i]`; so `offsets.count == transitions.count + 1`.
    let offsets: [Int64]

    static let tableStart = Date(timeIntervalSince1970: -2_208_988_800)  // 1900-01-01
    static let tableEnd = Date(timeIntervalSince1970: 7_258_118_400)  // 2200-01-01

    public static let utc = ZoneRules(identifier: "UTC", transitions: [], offsets: [0])

    init(identifier: String, transitions: [Int64], offsets: [Int64]) {
        self.identifier = identifier
        self.transitions = transitions
        self.offsets = offsets
    }

    /// `name`: what the zone is called (default: Foundation's name for it, which for `UTC`
    /// is `GMT`).
    convenience init(_ zone: TimeZone, name: String? = nil) {
        var transitions: [Int64] = []
        var offsets: [Int64] = [Int64(zone.secondsFromGMT(for: Self.tableStart))]
        var cursor = Self.tableStart
        while let next = zone.nextDaylightSavingTimeTransition(after: cursor), next < Self.tableEnd {
            let offset = Int64(zone.secondsFromGMT(for: next))
            let at = Int64(next.timeIntervalSince1970.rounded(.down))
            if offset != offsets.last! {
                transitions.append(at)
                offsets.append(offset)
            }
            cursor = next
        }
        self.init(identifier: name ?? zone.identifier, transitions: transitions, offsets: offsets)
    }

    private static let cache = Mutex<[String: ZoneRules]>([:])

    /// The rules of an IANA zone (cached), or nil for an unknown name.
    public static func named(_ identifier: String) -> ZoneRules? {
        if let cached = cache.withLock({ $0[identifier] }) { return cached }
        guard let zone = TimeZone(identifier: identifier) else { return nil }
        let rules = ZoneRules(zone, name: identifier)
        cache.withLock { $0[identifier] = rules }
        return rules
    }

    /// The rules of the process's local zone.
    public static var current: ZoneRules {
        named(TimeZone.current.identifier) ?? ZoneRules(TimeZone.current)
    }

    /// Index into `offsets` of the segment holding `instant`.
    @inline(__always)
    func segment(_ instant: Int64) -> Int {
        var low = 0, high = transitions.count
        while low < high {
            let mid = (low + high) / 2
            if transitions[mid] <= instant { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// The UTC offset in seconds at `instant`.
    public func offset(at instant: Int64) -> Int64 { offsets[segment(instant)] }

    /// The first transition strictly after `instant`, if any.
    func nextTransition(after instant: Int64) -> Int64? {
        let i = segment(instant)
        return i < transitions.count ? transitions[i] : nil
    }

    /// Where a wall-clock time falls.
    enum Resolution: Equatable {
        /// It occurs once, or twice (a repeated hour): the instants, earliest first.
        case exists(first: Int64, second: Int64?)
        /// It is skipped by a jump forward; the jump happens at this instant.
        case skipped(jump: Int64)
    }

    /// Maps local seconds to the instants that show that wall-clock time.
    func resolve(local: Int64) -> Resolution {
        // Only transitions within a day of it can matter (no offset exceeds ±26h).
        var i = segment(local - 100_000)
        var found: [Int64] = []
        while true {
            let start = i == 0 ? Int64.min : transitions[i - 1]
            let end = i < transitions.count ? transitions[i] : Int64.max
            let candidate = local - offsets[i]
            if candidate >= start && candidate < end { found.append(candidate) }
            if i >= transitions.count || transitions[i] > local + 100_000 { break }
            i += 1
        }
        if let first = found.first { return .exists(first: first, second: found.count > 1 ? found[1] : nil) }
        // In a gap: the jump is the transition whose before/after offsets straddle the wall time.
        for k in segment(local - 100_000)..<transitions.count {
            let t = transitions[k]
            if t + offsets[k] <= local && local < t + offsets[k + 1] { return .skipped(jump: t) }
            if t > local + 100_000 { break }
        }
        return .exists(first: local - offset(at: local), second: nil)
    }
}
