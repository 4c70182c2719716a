import SchedulerAPI
import Testing
@testable import SchedulerControl

@Suite struct AccessPolicyTests {
    /// A peer: uid, primary gid, and the account the database would give (nil: none).
    struct Peer {
        var uid: UInt32
        var gid: UInt32
        var name: String?
        var groups: [UInt32] = []
    }

    static let daemon: UInt32 = 500
    static let admins: UInt32 = 40
    static let staff: UInt32 = 50

    static let root = Peer(uid: 0, gid: 0, name: "root")
    static let daemonUser = Peer(uid: daemon, gid: 500, name: "schedd")
    static let adminByPrimary = Peer(uid: 1001, gid: admins, name: "ann")
    static let adminBySupplementary = Peer(uid: 1002, gid: 1002, name: "al", groups: [1002, admins])
    static let staffMember = Peer(uid: 1003, gid: 1003, name: "alice", groups: [1003, staff])
    static let staffByPrimary = Peer(uid: 1004, gid: staff, name: "sam", groups: [staff])
    static let outsider = Peer(uid: 1005, gid: 1005, name: "bob", groups: [1005])
    static let noAccount = Peer(uid: 1006, gid: 1006, name: nil)

    func decide(_ peer: Peer, _ policy: AccessPolicy) async -> AccessPolicy.Role {
        await policy.role(uid: peer.uid, gid: peer.gid) { (peer.name, peer.groups) }
    }

    @Test func everyPeerUnderEveryPolicy() async {
        let onlyAdmins = AccessPolicy(daemonUID: Self.daemon)
        let withAdminGroup = AccessPolicy(daemonUID: Self.daemon, adminGroup: Self.admins)
        let everyone = AccessPolicy(daemonUID: Self.daemon, adminGroup: Self.admins, users: .all)
        let staffOnly = AccessPolicy(daemonUID: Self.daemon, adminGroup: Self.admins, users: .group(Self.staff))
        let table: [(Peer, [AccessPolicy.Role])] = [
            (Self.root, [.admin, .admin, .admin, .admin]),
            (Self.daemonUser, [.admin, .admin, .admin, .admin]),
            (Self.adminByPrimary, [.refused, .admin, .admin, .admin]),
            (Self.adminBySupplementary, [.refused, .admin, .admin, .admin]),
            (Self.staffMember, [.refused, .refused, .user(name: "alice"), .user(name: "alice")]),
            (Self.staffByPrimary, [.refused, .refused, .user(name: "sam"), .user(name: "sam")]),
            (Self.outsider, [.refused, .refused, .user(name: "bob"), .refused]),
            (Self.noAccount, [.refused, .refused, .refused, .refused]),
        ]
        for (peer, expected) in table {
            for (policy, role) in zip([onlyAdmins, withAdminGroup, everyone, staffOnly], expected) {
                #expect(await decide(peer, policy) == role, "uid \(peer.uid) under \(policy)")
            }
        }
    }

    @Test func theAccountIsNotAskedForWhenTheCredentialsDecide() async {
        let policy = AccessPolicy(daemonUID: Self.daemon, adminGroup: Self.admins, users: .all)
        for peer in [Self.root, Self.daemonUser, Self.adminByPrimary] {
            let role = await policy.role(uid: peer.uid, gid: peer.gid) {
                Issue.record("the account database was asked for uid \(peer.uid)")
                return (nil, [])
            }
            #expect(role == .admin)
        }
        // Nobody but admins, no admin group: nothing to ask either.
        let closed = AccessPolicy(daemonUID: Self.daemon)
        let role = await closed.role(uid: 1005, gid: 1005) {
            Issue.record("the account database was asked")
            return (nil, [])
        }
        #expect(role == .refused)
    }

    @Test func socketAndDirectoryModes() {
        #expect(AccessPolicy().socketMode == 0o660)
        #expect(AccessPolicy(users: .all).socketMode == 0o666)
        #expect(AccessPolicy().directoryMode == 0o700)
        #expect(AccessPolicy(adminGroup: 40).directoryMode == 0o750)
        #expect(AccessPolicy(users: .group(50)).directoryMode == 0o755)
    }

    /// Who a socket directory made beforehand keeps out: each mode schedd would make keeps no
    /// one out; systemd's 0750 of root's group keeps the admin group and users out.
    @Test func whoASocketDirectoryKeepsOut() {
        for policy in [AccessPolicy(), AccessPolicy(adminGroup: 40), AccessPolicy(users: .all), AccessPolicy(adminGroup: 40, users: .group(50))] {
            #expect(policy.keptOut(byDirectoryMode: policy.directoryMode, gid: policy.adminGroup ?? 0) == nil, "\(policy)")
        }
        #expect(AccessPolicy().keptOut(byDirectoryMode: 0o700, gid: 0) == nil)
        #expect(AccessPolicy(adminGroup: 40).keptOut(byDirectoryMode: 0o750, gid: 0) == "the admin group")
        #expect(AccessPolicy(adminGroup: 40).keptOut(byDirectoryMode: 0o710, gid: 40) == nil)
        #expect(AccessPolicy(users: .all).keptOut(byDirectoryMode: 0o750, gid: 0) == "users")
        #expect(AccessPolicy(users: .group(50)).keptOut(byDirectoryMode: 0o750, gid: 50) == nil)
        #expect(AccessPolicy(adminGroup: 40, users: .group(50)).keptOut(byDirectoryMode: 0o750, gid: 0) == "the admin group and users")
        #expect(AccessPolicy(adminGroup: 40, users: .all).keptOut(byDirectoryMode: 0o755, gid: 0) == nil)
    }
}

@Suite struct UserScopeTests {
    let scope = UserScope(owner: "alice")

    @Test func aUsersFileIsQualifiedNamesAndReferencesAlike() throws {
        let file = try JSONParser.parse(#"""
            {"defaults": {"on_failure": "notify"},
             "jobs": [{"name": "backup", "shell": "alice/bin/x", "after": ["a"], "requires": ["db"], "on_success": "done"},
                      {"name": "bob/x", "shell": "true"}]}
            """#)
        let stored = scope.storedFile(file).serialized()
        #expect(stored == #"{"defaults":{"on_failure":"alice/notify"},"jobs":[{"name":"alice/backup","shell":"alice/bin/x","after":["alice/a"],"requires":["alice/db"],"on_success":"alice/done"},{"name":"alice/bob/x","shell":"true"}]}"#)
    }

    @Test func answersShowTheShortNamesAndLeaveEverythingElse() throws {
        let answer = try JSONParser.parse(#"""
            {"name": "alice/backup", "spec": {"name": "alice/backup", "shell": "alice/bin/x", "working_dir": "/home/alice/w",
             "requires": ["alice/db"]}, "runs": [{"job": "alice/backup", "error": "skipped: requires alice/db, which is failed"}],
             "created": ["alice/a"], "message": "no job named \"alice/x\""}
            """#)
        #expect(scope.shown(answer).serialized() == #"{"name":"backup","spec":{"name":"backup","shell":"alice/bin/x","working_dir":"/home/alice/w","requires":["db"]},"runs":[{"job":"backup","error":"skipped: requires db, which is failed"}],"created":["a"],"message":"no job named \"x\""}"#)
    }

    @Test func messagesLoseThePrefixOnlyWhereANameStarts() {
        #expect(scope.shownText(#"no job named "alice/x""#) == #"no job named "x""#)
        #expect(scope.shownText("dependency cycle: alice/a -> alice/b -> alice/a") == "dependency cycle: a -> b -> a")
        #expect(scope.shownText("cannot open /home/alice/x") == "cannot open /home/alice/x")
        #expect(scope.shownText("malice/x and alice/y") == "malice/x and y")
        #expect(scope.shownText("alice/") == "")
    }

    @Test func ownership() {
        #expect(scope.owns("alice/backup"))
        #expect(!scope.owns("backup"))
        #expect(!scope.owns("alicia/backup"))
        #expect(!scope.owns("alice2/backup"))
        #expect(scope.stored("backup") == "alice/backup")
        #expect(scope.shown("alice/backup") == "backup")
        #expect(scope.shown("bob/backup") == "bob/backup")
    }
}
