import Foundation
import Scheduler
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What the control server needs to know of a peer's account (its name, for the log and the
/// owner of what it changes; its groups, for the socket group), looked up off the event loops
/// and the cooperative pool, and kept for a few seconds: a client that connects once per
/// request (schedctl) would otherwise cost an account look-up (files, or NSS over the
/// network) per request. A change of group membership is seen within `lifetime`.
final class PeerAccounts: Sendable {
    struct Entry: Sendable {
        var name: String?
        var groups: [gid_t]
        var expires: ContinuousClock.Instant
    }

    private let entries = Mutex<[uid_t: Entry]>([:])
    let lifetime: Duration
    /// Accounts kept at most; the cache is emptied when it fills.
    let capacity: Int

    init(lifetime: Duration = .seconds(5), capacity: Int = 1024) {
        self.lifetime = lifetime
        self.capacity = capacity
    }

    static let shared = PeerAccounts()

    /// The account of `uid`: its name and supplementary groups.
    func account(uid: uid_t) async -> Entry {
        let now = ContinuousClock.now
        if let entry = entries.withLock({ $0[uid] }), entry.expires > now { return entry }
        let looked = await AccountDatabase.off { () -> (String?, [gid_t]) in
            guard let user = AccountDatabase.user(uid: uid) else { return (nil, []) }
            return (user.name, Self.groups(of: user))
        }
        let entry = Entry(name: looked.0, groups: looked.1, expires: now + lifetime)
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[uid] = entry
        }
        return entry
    }

    /// The supplementary groups of a user, from the account database (blocking).
    static func groups(of user: AccountDatabase.User) -> [gid_t] {
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(user.name, user.gid, &groups, &count) < 0 {
            groups = [gid_t](repeating: 0, count: Int(count))
            _ = getgrouplist(user.name, user.gid, &groups, &count)
        }
        return Array(groups.prefix(Int(max(0, count))))
    }
}
