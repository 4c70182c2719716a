import Testing
@testable import Scheduler
#if canImport(Glibc)
import Glibc
#endif

@Suite struct AccountDatabaseTests {
    @Test func usersAndGroupsByNameAndByNumber() throws {
        let root = try #require(AccountDatabase.user("root"))
        #expect(root.uid == 0 && root.gid == 0 && root.name == "root" && root.home == "/root")
        #expect(AccountDatabase.user("0")?.name == "root")
        #expect(AccountDatabase.user(uid: 0)?.home == "/root")
        #expect(AccountDatabase.user("no-such-user-here") == nil)
        #expect(AccountDatabase.groupID("root") == 0)
        #expect(AccountDatabase.groupID("0") == 0)
        #expect(AccountDatabase.groupID("no-such-group-here") == nil)
    }

    /// Runs start concurrently: each lookup must see its own user, whatever the others ask.
    @Test func concurrentLookupsDoNotMixUsers() async throws {
        let nobody = try #require(AccountDatabase.user("nobody"))
        let mixed = await withTaskGroup(of: Int.self) { group in
            for task in 0..<8 {
                group.addTask {
                    var wrong = 0
                    for i in 0..<2_000 {
                        if (task + i) % 2 == 0 {
                            if AccountDatabase.user(uid: 0)?.home != "/root" { wrong += 1 }
                        } else if AccountDatabase.user("nobody")?.home != nobody.home {
                            wrong += 1
                        }
                    }
                    return wrong
                }
            }
            return await group.reduce(0, +)
        }
        #expect(mixed == 0)
    }
}
