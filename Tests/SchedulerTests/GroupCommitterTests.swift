import GRDB
import Synchronization
import Testing
@testable import Scheduler

@Suite struct GroupCommitterTests {
    func committer() async throws -> (TemporaryDatabase, GroupCommitter) {
        let temp = try TemporaryDatabase()
        try await temp.database.pool.write { db in try db.execute(sql: "CREATE TABLE t (x INTEGER)") }
        return (temp, GroupCommitter(pool: temp.database.pool, changes: ChangeCounter()))
    }

    /// What the engine relies on: a fire queued before its run's start row is never committed
    /// after it.
    @Test func aQueuedWriteIsCommittedBeforeEveryLaterWrite() async throws {
        let (temp, committer) = try await committer()
        for round in 0..<50 {
            let queued = committer.queue { db in try db.execute(sql: "INSERT INTO t VALUES (?)", arguments: [round]) }
            let sawIt = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        try await committer.write { db in
                            try Int.fetchOne(db, sql: "SELECT count(*) FROM t WHERE x = ?", arguments: [round]) == 1
                        }
                    }
                }
                group.addTask {
                    try await queued.wait()
                    return true
                }
                return try await group.reduce(true) { $0 && $1 }
            }
            #expect(sawIt)
        }
        #expect(try await temp.database.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM t") } == 50)
    }

    @Test func aQueuedWriteAloneIsWrittenByItsWait() async throws {
        let (temp, committer) = try await committer()
        let queued = committer.queue { db in try db.execute(sql: "INSERT INTO t VALUES (7)") }
        try await queued.wait()
        #expect(try await temp.database.pool.read { db in try Int.fetchOne(db, sql: "SELECT x FROM t") } == 7)
        // A failing one reports its error, and the others of its batch are kept.
        let failing = committer.queue { db in try db.execute(sql: "INSERT INTO nowhere VALUES (1)") }
        let fine = committer.queue { db in try db.execute(sql: "INSERT INTO t VALUES (8)") }
        await #expect(throws: (any Error).self) { try await failing.wait() }
        try await fine.wait()
        #expect(try await temp.database.pool.read { db in try Int.fetchAll(db, sql: "SELECT x FROM t ORDER BY x") } == [7, 8])
    }

    /// A turn's ends and starts: written in one transaction, each with its own result, and one
    /// failing leaves the other.
    @Test func twoWritesTogetherShareACommitAndFailApart() async throws {
        let temp = try TemporaryDatabase()
        try await temp.database.pool.write { db in try db.execute(sql: "CREATE TABLE t (x INTEGER)") }
        let changes = ChangeCounter()
        let committer = GroupCommitter(pool: temp.database.pool, changes: changes)
        let before = changes.current
        let (first, second) = await committer.write({ db in try db.execute(sql: "INSERT INTO t VALUES (1)") },
                                                    { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM t WHERE x = 1") })
        #expect(throws: Never.self) { try first.get() }
        #expect(try second.get() == 1, "the second saw the first's row")
        #expect(changes.current == before + 1, "one commit")
        let (failing, fine) = await committer.write({ db in try db.execute(sql: "INSERT INTO nowhere VALUES (1)") },
                                                    { db in try db.execute(sql: "INSERT INTO t VALUES (9)") })
        #expect(throws: (any Error).self) { try failing.get() }
        #expect(throws: Never.self) { try fine.get() }
        #expect(try await temp.database.pool.read { db in try Int.fetchAll(db, sql: "SELECT x FROM t ORDER BY x") } == [1, 9])
    }

    /// A run's final write must land even when the task that submits it is cancelled (the
    /// engine's tasks are, at shutdown), and so must the batches after it: GRDB's async
    /// `write` gives up in a cancelled task, and a task that led the batches once failed its
    /// batch (other tasks' writes) and every one it led after.
    @Test func aCancelledWriterStillCommitsItsBatchAndTheNextOnes() async throws {
        let (temp, committer) = try await committer()
        let leader = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            var written = 0
            for round in 0..<5 {
                try await committer.write { db in try db.execute(sql: "INSERT INTO t VALUES (?)", arguments: [round]) }
                written += 1
            }
            return written
        }
        #expect(try await leader.value == 5)
        #expect(try await temp.database.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM t") } == 5)
    }

    /// The batches queue themselves one by one on the writer queue, so another access to it
    /// (an apply, a retention pass) gets its turn between two batches rather than after a
    /// stream of writes has dried up: what would break if the batches were looped in one
    /// access to save the queueing.
    @Test func anotherWriteGetsInBetweenBatches() async throws {
        let (temp, committer) = try await committer()
        final class Count: Sendable { let value = Atomic<Int>(0) }
        let written = Count()
        let total = 8 * 1000
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    for round in 0..<1000 {
                        try await committer.write { db in try db.execute(sql: "INSERT INTO t VALUES (?)", arguments: [round]) }
                        written.value.add(1, ordering: .relaxed)
                    }
                }
            }
            try await waitFor("the writers to be under way") { written.value.load(ordering: .relaxed) >= 50 }
            try await temp.database.pool.write { db in try db.execute(sql: "INSERT INTO t VALUES (-1)") }
            let whenDone = written.value.load(ordering: .relaxed)
            #expect(whenDone < total, "the direct write waited for every batch: \(whenDone) of \(total) written before it")
            try await group.waitForAll()
        }
    }
}
