import Logging
import Testing
@testable import Scheduler

@Suite struct ProcessTableTests {
    func block(_ entries: [String], trailingNUL: Bool = true) -> ArraySlice<UInt8> {
        var bytes: [UInt8] = []
        for entry in entries { bytes += Array(entry.utf8) + [0] }
        if !trailingNUL, !bytes.isEmpty { bytes.removeLast() }
        return bytes[...]
    }

    @Test func findsAWholeEntryByItsNameOnly() {
        let environ = block(["XSCHEDD_RUN_ID=1", "PATH=/bin", "SCHEDD_RUN_ID=42", "SCHEDD_INSTANCE=abc"])
        #expect(ProcessTable.variable("SCHEDD_RUN_ID=", in: environ) == "SCHEDD_RUN_ID=42")
        #expect(ProcessTable.variable("SCHEDD_INSTANCE=", in: environ) == "SCHEDD_INSTANCE=abc")
        #expect(ProcessTable.variable("HOME=", in: environ) == nil)
        #expect(ProcessTable.variable("SCHEDD_RUN_ID=", in: block(["SCHEDD_RUN_ID=7"], trailingNUL: false)) == "SCHEDD_RUN_ID=7")
        #expect(ProcessTable.variable("SCHEDD_RUN_ID=", in: block(["A=SCHEDD_RUN_ID=9"])) == nil)
        #expect(ProcessTable.variable("SCHEDD_RUN_ID=", in: block([])) == nil)
        #expect(ProcessTable.variable("SCHEDD_RUN_ID=", in: block(["SCHEDD_RUN_ID"])) == nil)
    }

    @Test func readsFilesLargerThanTheBuffer() {
        var buffer = [UInt8](repeating: 0, count: 16)
        let status = ProcessTable.read("/proc/self/status", into: &buffer)
        #expect((status?.count ?? 0) > 16)
        #expect(status.map { String(decoding: $0, as: UTF8.self).hasPrefix("Name:") } == true)
    }
}

@Suite struct ProcessSweeperTests {
    /// Sweeps asked for while a look is under way are looked for at once: the interval is
    /// only for runs whose processes were found and wait to die. (Sweeps asked for during a
    /// look used to wait the whole interval, a minute here.)
    @Test func sweepsOfRunsWithNothingLeftReturnWithoutWaitingTheInterval() async throws {
        let sweeper = ProcessSweeper(instanceID: "test-\(UInt64.random(in: 0...UInt64.max))", logger: Logger(label: "test"),
                                     interval: .seconds(60), useCgroups: false)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await sweeper.run() }
            let done = Counter()
            do {
                try await withThrowingTaskGroup(of: Void.self) { sweeps in
                    for runID in 1...40 {
                        sweeps.addTask {
                            // Spread over several looks.
                            try await Task.sleep(for: .microseconds(runID * 500))
                            await sweeper.sweep(job: "j", runID: Int64(runID), grace: .seconds(1))
                            await done.add()
                        }
                    }
                    try await waitFor("every sweep to return", seconds: 20) { await done.value == 40 }
                    try await sweeps.waitForAll()
                }
            } catch {
                // The sweeper runs until it is stopped, failed test or not: its waiters are
                // released then, and the test ends instead of waiting for it for ever.
                await sweeper.stop()
                throw error
            }
            await sweeper.stop()
            try await group.waitForAll()
        }
    }
}

actor Counter {
    private(set) var value = 0
    func add() { value += 1 }
}
