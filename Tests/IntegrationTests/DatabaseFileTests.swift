import Foundation
import Testing

/// The database file taken away from under a running daemon: it must neither go on recording
/// into a file that is gone nor mix its writes with the file put in its place.
@Suite(.ownThreads) struct DatabaseFileTests {
    static let jobs = #"{"jobs": [{"name": "tick", "schedule": "@every 1s", "command": ["/bin/true"]}]}"#

    func runCount(_ db: String) -> Int { (try? sqlite(db, "SELECT count(*) FROM runs")).flatMap { Int($0) } ?? -1 }

    @Test func aDeletedDatabaseIsSavedBackAndTheDaemonStops() throws {
        let scratch = try Scratch()
        let db = scratch.path("schedd.db")
        let config = try scratch.write("jobs.json", Self.jobs)
        let daemon = try DaemonProcess(["--db", db, "--config", config], log: scratch.path("first.log"))
        #expect(eventually(timeout: 30) { runCount(db) >= 2 })
        let before = runCount(db)
        for suffix in ["", "-wal", "-shm"] { unlink(db + suffix) }

        #expect(daemon.waitForExit(timeout: 60) == 1)
        #expect(daemon.stderr().contains("the database \(db) was deleted while schedd ran; what it held is saved to \(db)"))
        #expect(try sqlite(db, "PRAGMA integrity_check") == "ok")
        let restored = runCount(db)
        #expect(restored >= before)
        #expect(try sqlite(db, "SELECT count(*) FROM runs WHERE status = 'running'") == "0")

        // Started again, it goes on with the history it had.
        let second = try DaemonProcess(["--db", db, "--config", config], log: scratch.path("second.log"))
        #expect(second.waitUntilStarted())
        #expect(eventually(timeout: 30) { runCount(db) > restored })
        #expect(second.terminate() == 0)
        #expect(try sqlite(db, "PRAGMA integrity_check") == "ok")
    }

    /// The whole state directory removed: the copy cannot be written until the directory is
    /// back, and is tried again meanwhile; stopped before then, schedd says what it lost.
    @Test func aCopyThatCannotBeWrittenIsTriedAgainUntilItCan() throws {
        let scratch = try Scratch()
        let state = scratch.path("state")
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: false)
        let db = state + "/schedd.db"
        let config = try scratch.write("jobs.json", Self.jobs)
        let daemon = try DaemonProcess(["--db", db, "--config", config], log: scratch.path("first.log"))
        #expect(eventually(timeout: 30) { runCount(db) >= 2 })
        let before = runCount(db)
        try FileManager.default.removeItem(atPath: state)
        #expect(eventually(timeout: 30) { daemon.stderr().contains("schedd could not save the database it had open; trying again every 10s") })
        #expect(daemon.process.isRunning)
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: false)
        #expect(daemon.waitForExit(timeout: 30) == 1)
        #expect(daemon.stderr().contains("what it held is saved to \(db)"), "\(daemon.stderr())")
        #expect(try sqlite(db, "PRAGMA integrity_check") == "ok")
        #expect(runCount(db) >= before)

        // Stopped while the copy cannot be written: it says so and exits.
        let second = try DaemonProcess(["--db", db, "--config", config], log: scratch.path("second.log"))
        #expect(second.waitUntilStarted())
        try FileManager.default.removeItem(atPath: state)
        #expect(eventually(timeout: 30) { second.stderr().contains("schedd could not save the database it had open") })
        #expect(second.terminate() == 1)
        #expect(second.stderr().contains("schedd was stopped before it could save the database it had open"))
    }

    @Test func aReplacedDatabaseIsLeftAsPutAndTheOpenOneIsSavedBesideIt() throws {
        let scratch = try Scratch()
        let db = scratch.path("schedd.db")
        let backup = scratch.path("backup.db")
        let config = try scratch.write("jobs.json", Self.jobs)
        let daemon = try DaemonProcess(["--db", db, "--config", config], log: scratch.path("first.log"))
        #expect(eventually(timeout: 30) { runCount(db) >= 2 })
        _ = try sqlite(db, "VACUUM INTO '\(backup)'")
        let backedUp = runCount(backup)
        #expect(eventually(timeout: 30) { runCount(db) > backedUp })
        let before = runCount(db)
        // A restore done the wrong way: the daemon still runs, its -wal and -shm stay.
        #expect(rename(backup, db) == 0)

        #expect(daemon.waitForExit(timeout: 60) == 1)
        #expect(daemon.stderr().contains("the database \(db) was replaced while schedd ran; what it held is saved to \(db).saved-"))
        // The file put there is as it was put: the open database's WAL was not read into it.
        #expect(try sqlite(db, "PRAGMA integrity_check") == "ok")
        #expect(runCount(db) == backedUp)
        let name = try FileManager.default.contentsOfDirectory(atPath: scratch.url.path).first { $0.hasPrefix("schedd.db.saved-") }
        let saved = scratch.path(try #require(name))
        #expect(try sqlite(saved, "PRAGMA integrity_check") == "ok")
        #expect(runCount(saved) >= before)
        #expect(try sqlite(saved, "SELECT count(*) FROM runs WHERE status = 'running'") == "0")

        let second = try DaemonProcess(["--db", db, "--config", config], log: scratch.path("second.log"))
        #expect(second.waitUntilStarted())
        #expect(eventually(timeout: 30) { runCount(db) > backedUp })
        #expect(second.terminate() == 0)
        #expect(try sqlite(db, "PRAGMA integrity_check") == "ok")
    }
}
