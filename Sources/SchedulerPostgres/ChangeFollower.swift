import Logging
import Scheduler

/// Follows the cluster's changes to the job set, to pauses and to its time zone: woken by the database's
/// notification when another node changes them, and by the heartbeat's slow poll, which covers a
/// notification lost with its connection. It reads the database's counts of changes and has
/// the engine read the jobs again only when they moved since it last looked, so a change that
/// both wakes it and is polled is read once. (This node's own changes come back to it the same
/// way; the engine already has them.)
actor ChangeFollower {
    let store: PostgresStore
    let engine: JobScheduler
    let logger: Logger
    /// The counts as last read; nil before the first read, which has the engine read the jobs
    /// too (another node may have changed them since the engine loaded them).
    private var mark: String?

    init(store: PostgresStore, engine: JobScheduler, logger: Logger) {
        self.store = store
        self.engine = engine
        self.logger = logger
    }

    func follow() async {
        let mark: String
        do {
            mark = try await store.changeMark()
        } catch {
            logger.warning("cannot read the cluster's changes", metadata: ["schedd.error": "\(error)"])
            return
        }
        guard mark != self.mark else { return }
        do {
            if let zone = try await store.clusterTimeZone() { await engine.useDefaultZone(zone) }
        } catch {
            logger.warning("cannot read the cluster's changes", metadata: ["schedd.error": "\(error)"])
            return
        }
        self.mark = mark
        await engine.refreshFromStore()
    }
}
