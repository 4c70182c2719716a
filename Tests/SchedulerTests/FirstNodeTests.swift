import Testing
@testable import Scheduler

/// Which node offers a job's slots first: the same answer in every process (the figures below
/// were computed apart, in Python), one node per job, and the jobs spread over the nodes.
struct FirstNodeTests {
    @Test func theWeightIsTheSameInEveryProcess() {
        #expect(FirstNode.weight("a", "backup") == 0xbfcd_d8a0_e545_3b4b)
        #expect(FirstNode.weight("b", "backup") == 0x8fd3_0188_3c1d_26eb)
        #expect(FirstNode.weight("c", "backup") == 0x2f88_bad0_8b3e_7abd)
        #expect(FirstNode.of(job: "backup", among: ["a", "b", "c"]) == "a")
    }

    @Test func eachJobHasOneFirstNodeAndTheJobsSpread() {
        var firsts: [String: Int] = [:]
        for i in 0..<300 {
            let job = "b" + String(repeating: "0", count: 4 - String(i).count) + String(i)
            let first = FirstNode.of(job: job, among: ["a", "b", "c"])
            #expect(first.map { ["a", "b", "c"].contains($0) } == true)
            #expect(FirstNode.of(job: job, among: ["c", "b", "a"]) == first, "the order the nodes are known in does not matter")
            firsts[first ?? "", default: 0] += 1
        }
        #expect(firsts == ["a": 104, "b": 95, "c": 101])
        // A node that leaves hands only its own jobs on: the others keep theirs.
        for i in 0..<300 {
            let job = "job\(i)"
            let before = FirstNode.of(job: job, among: ["a", "b", "c"])
            let after = FirstNode.of(job: job, among: ["a", "b"])
            if before != "c" { #expect(after == before) }
        }
        #expect(FirstNode.of(job: "x", among: []) == nil)
    }
}
