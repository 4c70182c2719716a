import Logging
import Scheduler
import ServiceLifecycle
import Synchronization

/// Stops the daemon when its database file is deleted or replaced under it (`rm`, a backup
/// moved over it, a cleanup of the state directory). SQLite goes on writing to the file it
/// has open, so without this every run recorded afterwards would be lost at the next start,
/// and after a replacement new read connections would read the other file, and could read the
/// open database's WAL into it. The daemon drains as on SIGTERM, saves the open database
/// (`SchedulerDatabase.closeDisplaced`) and exits with a failure, which the unit's
/// `Restart=on-failure` turns into a start on the file now at the path.
final class DatabaseFileWatch: Service {
    private let database: SchedulerDatabase
    private let interval: Duration
    private let logger: Logger
    private let found = Mutex<SchedulerDatabase.FilePlace?>(nil)

    init(database: SchedulerDatabase, interval: Duration = .seconds(2), logger: Logger) {
        self.database = database
        self.interval = interval
        self.logger = logger
    }

    /// What was found, once the watch has ended the daemon for it.
    var displacement: SchedulerDatabase.FilePlace? { found.withLock { $0 } }

    /// Returns when the file is found displaced (the service group is configured to shut down
    /// then), or on shutdown.
    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await cancelWhenGracefulShutdown { [interval] in try await ContinuousClock().sleep(for: interval) }
            } catch {
                return
            }
            let place: SchedulerDatabase.FilePlace
            do {
                place = try await database.filePlace()
            } catch {
                // The writer refused (a cancelled access on the way out): asked again next time.
                continue
            }
            guard place != .inPlace else { continue }
            found.withLock { $0 = place }
            logger.critical(place == .deleted
                                ? "the database file was deleted while schedd ran; schedd saves what it holds and stops"
                                : "the database file was replaced while schedd ran; schedd saves what it holds beside it and stops",
                            metadata: ["schedd.db": "\(database.path)"])
            return
        }
    }
}
