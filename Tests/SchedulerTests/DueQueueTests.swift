import Foundation
import Testing
@testable import Scheduler

@Suite struct DueQueueTests {
    static let base = Date(timeIntervalSince1970: 1_800_000_000)
    static func at(_ seconds: Double) -> Date { base.addingTimeInterval(seconds) }

    @Test func popsExactlyWhatIsDueInAnyPushOrder() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            var queue = DueQueue()
            var due: [String: Date] = [:]
            for i in (0..<300).shuffled(using: &generator) {
                let name = "job-\(i)"
                due[name] = Self.at(Double(Int.random(in: 0..<100, using: &generator)))
                queue.push(due[name]!, job: name)
            }
            let now = Self.at(49.5)
            let popped = queue.popDue(now: now) { job, date in due[job] == date }
            #expect(popped == Set(due.filter { $0.value <= now }.keys))
            #expect(queue.earliest { job, date in due[job] == date } == due.values.filter { $0 > now }.min())
            #expect(queue.count == due.values.filter { $0 > now }.count)
        }
    }

    @Test func staleEntriesAreSkipped() {
        var queue = DueQueue()
        var due = ["a": Self.at(10), "b": Self.at(20)]
        queue.rebuild([(Self.at(10), "a"), (Self.at(20), "b")])
        // a is rescheduled later, b removed: their old entries stay until they surface.
        due["a"] = Self.at(30)
        queue.push(Self.at(30), job: "a")
        due["b"] = nil
        let isCurrent = { (job: String, date: Date) in due[job] == date }
        #expect(queue.earliest(isCurrent: isCurrent) == Self.at(30))
        #expect(queue.popDue(now: Self.at(25), isCurrent: isCurrent).isEmpty)
        #expect(queue.popDue(now: Self.at(30), isCurrent: isCurrent) == ["a"])
        #expect(queue.earliest(isCurrent: isCurrent) == nil)
    }

    @Test func aJobPushedTwiceForTheSameTimeIsDueOnce() {
        var queue = DueQueue()
        queue.push(Self.at(5), job: "a")
        queue.push(Self.at(5), job: "a")
        #expect(queue.popDue(now: Self.at(5)) { _, _ in true } == ["a"])
        #expect(queue.count == 0)
    }
}
