import Testing
@testable import Scheduler

/// The attempt waits on its run's control for the first of the execution's end, the timeout
/// and a cancel, without a second task.
@Suite struct RunControlTests {
    @Test func aWaitForAStopEndsWhenTheExecutionEnds() async throws {
        let control = RunControl()
        try await confirmation("the wait returned") { returned in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    #expect(await control.waitForStop() == nil)
                    returned()
                }
                try await waitFor("the wait to begin") { control.isWaited }
                control.executionEnded()
                try await group.waitForAll()
            }
        }
    }

    @Test func aStopBeforeTheEndIsWhatTheWaitReturns() async {
        let control = RunControl()
        control.timeOut()
        control.executionEnded()
        #expect(await control.waitForStop() == .timedOut)
    }

    @Test func aWaitAfterTheEndReturnsAtOnce() async {
        let control = RunControl()
        control.executionEnded()
        #expect(await control.waitForStop() == nil)
    }
}
