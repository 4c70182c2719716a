import Testing
@testable import SchedulerAPI

/// The bounded distance that `NearMiss.suggest` uses over many names agrees with the full one.
@Suite struct NearMissTests {
    /// Optimal string alignment distance, the whole matrix: the definition to agree with.
    static func reference(_ a: [UInt8], _ b: [UInt8]) -> Int {
        var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        guard !a.isEmpty, !b.isEmpty else { return d[a.count][b.count] }
        for i in 1...a.count {
            for j in 1...b.count {
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1) }
            }
        }
        return d[a.count][b.count]
    }

    @Test func theBoundedDistanceIsTheDistanceWithinReach() {
        var generator = SystemRandomNumberGenerator()
        // A small alphabet, so that swaps and repeats are common.
        func word() -> [UInt8] { (0..<Int.random(in: 0...7, using: &generator)).map { _ in UInt8.random(in: 97...99, using: &generator) } }
        for _ in 0..<20_000 {
            let a = word(), b = word()
            let distance = Self.reference(a, b)
            for reach in 0...4 {
                #expect(NearMiss.editDistance(a, b, within: reach) == (distance <= reach ? distance : nil), "\(a) \(b) within \(reach)")
            }
        }
    }

    @Test func suggestionsAmongManyNames() {
        let names = (0..<5_000).map { "job-\($0)" } + ["backup", "backup-db", "nightly-report"]
        #expect(NearMiss.suggest("bakup", among: names) == "backup")
        #expect(NearMiss.suggest("BACKUP-DB", among: names) == "backup-db")
        #expect(NearMiss.suggest("nightly-reprot", among: names) == "nightly-report")
        #expect(NearMiss.suggest("job-12a", among: names) == "job-12")
        #expect(NearMiss.suggest("something-else", among: names) == nil)
        #expect(NearMiss.suggest("x", among: [String]()) == nil)
        // The first of equally near ones, as given.
        #expect(NearMiss.suggest("ab", among: ["ac", "ad"]) == "ac")
    }
}
