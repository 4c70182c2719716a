import Synchronization
import Testing
@testable import Scheduler
@testable import SchedulerControl

@Suite struct VersionedCacheTests {
    final class Counter: Sendable {
        let calls = Atomic<Int>(0)
    }

    @Test func concurrentAsksForOneVersionComputeOnce() async throws {
        let cache = VersionedCache<Int>()
        let counter = Counter()
        let (gate, open) = AsyncStream.makeStream(of: Void.self)
        let values = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    try await cache.value(version: 1) {
                        counter.calls.add(1, ordering: .relaxed)
                        // Held until every asker is in, so that they all find it computing.
                        for await _ in gate { break }
                        return 42
                    }
                }
            }
            // The first asker computes; give the others time to queue behind it, then let it go.
            while counter.calls.load(ordering: .relaxed) == 0 { await Task.yield() }
            for _ in 0..<100 { await Task.yield() }
            open.yield()
            open.finish()
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(values == Array(repeating: 42, count: 20))
        #expect(counter.calls.load(ordering: .relaxed) == 1)
    }

    @Test func aNewVersionIsComputedAgainAndAnOlderOneIsNotNeeded() async throws {
        let cache = VersionedCache<String>()
        #expect(try await cache.value(version: 1) { "one" } == "one")
        #expect(try await cache.value(version: 1) { "again" } == "one")
        #expect(try await cache.value(version: 3) { "three" } == "three")
        // A request that read an older version before the newer value was cached gets the newer one.
        #expect(try await cache.value(version: 2) { "two" } == "three")
    }

    @Test func aFailedComputationIsNotCached() async throws {
        struct Failure: Error {}
        let cache = VersionedCache<Int>()
        await #expect(throws: Failure.self) { try await cache.value(version: 1) { throw Failure() } }
        #expect(try await cache.value(version: 1) { 7 } == 7)
    }
}
