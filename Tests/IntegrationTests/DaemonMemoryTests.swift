import Foundation
import Testing

/// What runs leave behind in the daemon: nothing that grows with their number or their output.
@Suite(.ownThreads) struct DaemonMemoryTests {
    /// The daemon's anonymous resident memory (heap and anonymous mappings), in KiB.
    static func anonymousKiB(_ pid: pid_t) throws -> Int {
        guard let kib = procStatusKiB(pid, "RssAnon") else { throw POSIXError(.EINVAL) }
        return kib
    }

    /// A job that prints a lot, run again and again, leaves the daemon's memory where its first
    /// run left it. The loop that reads every run's pipes once kept ~800 bytes for each turn it
    /// served: 45 MiB for every GiB a job printed, for the daemon's whole life.
    @Test func printingLeavesNoMemoryBehindInTheDaemon() throws {
        let d = try Daemon(jobs: #"""
            {"jobs": [{"name": "loud", "timeout": "5m", "shell": "yes 'schedd output, line after line' | head -c 134217728"}]}
            """#)
        func run(_ id: Int) throws {
            #expect(try d.ctl(["run", "loud"]).stdout == "started loud: run \(id)\n")
            let ended = eventually(timeout: 240) { (try? sqlite(d.db, "SELECT status FROM runs WHERE id = \(id)")) == "succeeded" }
            #expect(ended, "run \(id) of the loud job did not succeed in time: \(d.process.stderr().suffix(2000))")
        }
        // The first run grows what any run needs once (caches, the loop's buffer).
        try run(1)
        let settled = try Self.anonymousKiB(d.process.pid)
        try run(2)
        try run(3)
        let grown = try Self.anonymousKiB(d.process.pid) - settled
        // 256 MiB printed: with the loop's leak (release builds), ~11 MiB; without it, noise.
        #expect(grown < 8 * 1024, "the daemon grew by \(grown) KiB over two runs that printed 128 MiB each")
    }

    /// Thousands of runs leave the daemon's memory where the first few hundred left it. Reading
    /// an ended run's empty `cgroup.procs` with Foundation's `String(contentsOfFile:)` once lost
    /// 4 KiB per run (the daemon grew by 15 MiB over 3,000 runs; 1.5–1.8 MiB without the leak).
    @Test func manyRunsLeaveNoMemoryBehindInTheDaemon() throws {
        let d = try Daemon(jobs: #"{"jobs": [{"name": "quick", "command": ["/bin/true"], "concurrency": "allow"}]}"#)
        var asked = 0
        func run(_ count: Int) {
            for _ in 0..<count {
                let answer = d.raw(Array("POST /v1/jobs/quick/run HTTP/1.1\r\nHost: schedd\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8))
                if answer.hasPrefix("HTTP/1.1 2") { asked += 1 } else { Issue.record("a run was refused: \(answer.prefix(300))"); return }
            }
            let done = eventually(timeout: 120) { (try? sqlite(d.db, "SELECT count(*) FROM runs WHERE status = 'succeeded'")) == "\(asked)" }
            #expect(done, "\(asked) runs asked, \((try? sqlite(d.db, "SELECT count(*) FROM runs WHERE status = 'succeeded'")) ?? "?") succeeded")
        }
        run(500)
        let settled = try Self.anonymousKiB(d.process.pid)
        run(2_000)
        let grown = try Self.anonymousKiB(d.process.pid) - settled
        #expect(grown < 5 * 1024, "the daemon grew by \(grown) KiB over 2,000 runs")
    }
}
