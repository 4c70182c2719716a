import Testing
@testable import SchedulerAPI

@Suite struct TextKeyedCacheTests {
    /// Texts replaced since the last full read go once they outnumber the current ones
    /// (twice as many and the slack): a daemon whose 200 jobs were rewritten 300 times kept
    /// 20,000 decoded definitions, ~21 MiB, for ever.
    @Test func aFullReadDropsTextsNoLongerCurrentOnceTheyPileUp() {
        let cache = TextKeyedCache<Int>(limit: 20_000)
        for version in 0..<30 {
            cache.insert((0..<10).map { (text: "job \($0) v\(version)", value: $0) })
        }
        #expect(cache.count == 300)
        let current = (0..<10).map { (text: "job \($0) v29", value: cache.shared("job \($0) v29")!) }
        // Within twice the current set and the slack: kept as it is (no work on each read).
        cache.keepOnly(current, slack: 1_000)
        #expect(cache.count == 300)
        cache.keepOnly(current, slack: 100)
        #expect(cache.count == 10)
        #expect(cache["job 3 v29"] == 3)
        #expect(cache["job 3 v28"] == nil)
        // What was kept is the value its holders hold, not a copy.
        #expect(cache.shared("job 3 v29") === current[3].value)
    }

    /// A value is kept once and handed out by reference: holders share its one allocation.
    @Test func holdersShareTheKeptValue() {
        let cache = TextKeyedCache<[Int]>(limit: 10)
        let kept = cache.insert(Array(0..<100), for: "a")
        #expect(cache.shared("a") === kept && cache.shared("a") === cache.shared("a"))
        #expect(cache["a"] == Array(0..<100) && cache.shared("b") == nil)
    }

    @Test func pastItsLimitItIsEmptiedAndRefilled() {
        let cache = TextKeyedCache<Int>(limit: 5)
        cache.insert((0..<5).map { (text: "t\($0)", value: $0) })
        cache.insert(9, for: "t9")
        #expect(cache.count == 1)
        #expect(cache["t9"] == 9)
    }
}
