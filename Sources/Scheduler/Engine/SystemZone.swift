import Foundation
import SchedulerAPI
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The host's local time zone as it is now. Foundation reads it once per process and never
/// again, so a daemon started before `timedatectl set-timezone` would read schedules in the
/// old zone until it is restarted; this reads the system's setting afresh: `TZ` when it is
/// set (fixed for the process), else the zone `/etc/localtime` links to (what `timedatectl`
/// and `dpkg-reconfigure tzdata` write), else `/etc/timezone`.
struct SystemZone: Sendable {
    let localtime: String
    let timezoneFile: String
    let environmentTZ: String?

    init(localtime: String = "/etc/localtime", timezoneFile: String = "/etc/timezone",
         environmentTZ: String? = ProcessInfo.processInfo.environment["TZ"]) {
        self.localtime = localtime
        self.timezoneFile = timezoneFile
        self.environmentTZ = environmentTZ
    }

    /// The zone's IANA name, or nil when the system does not say (no link, no file, or `TZ`
    /// as a POSIX rule), in which case the zone is not followed.
    func identifier() -> String? {
        if let tz = environmentTZ {
            // glibc's `:Area/City` and `Area/City`; a POSIX rule (`CET-1CEST`) has no name.
            let name = tz.hasPrefix(":") ? String(tz.dropFirst()) : tz
            return Self.zoneName(fromPath: name) ?? (ZoneRules.named(name) != nil ? name : nil)
        }
        if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: localtime) {
            return Self.zoneName(fromPath: target)
        }
        guard let contents = try? String(contentsOfFile: timezoneFile, encoding: .utf8) else { return nil }
        let name = contents.trimmingCharacters(in: .whitespacesAndNewlines)
        return name.isEmpty ? nil : name
    }

    /// `…/zoneinfo/Europe/Berlin` (also under `posix/`) → `Europe/Berlin`, when it names a zone.
    static func zoneName(fromPath path: String) -> String? {
        guard let range = path.range(of: "zoneinfo/", options: .backwards) else { return nil }
        var name = String(path[range.upperBound...])
        if name.hasPrefix("posix/") { name.removeFirst("posix/".count) }
        return name.isEmpty || ZoneRules.named(name) == nil ? nil : name
    }

    /// The zone's rules, or nil as for `identifier()`.
    func rules() -> ZoneRules? { identifier().flatMap(ZoneRules.named) }

    private static let cache = Mutex<(read: Duration, rules: ZoneRules?)?>(nil)

    /// The system's zone, read at most once a second (`monotonic` is the caller's boot-time
    /// clock): the engine looks at it on each turn, and a busy engine turns thousands of times
    /// a second.
    static func current(at monotonic: Duration) -> ZoneRules? {
        if let cached = cache.withLock({ $0 }), monotonic - cached.read < .seconds(1), monotonic >= cached.read {
            return cached.rules
        }
        let rules = SystemZone().rules()
        cache.withLock { $0 = (monotonic, rules) }
        return rules
    }
}
