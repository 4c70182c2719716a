import Logging
import Scheduler
import SchedulerAPI
import ServiceLifecycle

/// A cluster node's lease: renewed every third of it with the database's clock, which also
/// gives the engine's clock its offset; each round also declares dead the nodes whose lease
/// has expired (their running runs become `lost`). Fenced (declared dead while this node was
/// frozen or cut off), it registers again under a new epoch. On graceful shutdown, which the
/// daemon gives it after the engine has drained, the node leaves the cluster.
public struct NodeHeartbeat: Service {
    let store: PostgresStore
    let clock: DatabaseClock
    let workers: Int
    let engine: JobScheduler
    let logger: Logger

    public init(store: PostgresStore, clock: DatabaseClock, engine: JobScheduler, workers: Int, logger: Logger) {
        self.engine = engine
        self.store = store
        self.clock = clock
        self.workers = workers
        self.logger = logger
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var mark: String?
            while !Task.isCancelled {
                await beat()
                mark = await followChanges(since: mark)
                try await Task.sleep(for: store.lease / 3)
            }
        }
        await store.leave()
    }

    /// Reads the jobs again when another node changed them (the slow poll; it is also how this
    /// node sees its own changes, which it already has). Returns the mark seen.
    func followChanges(since last: String?) async -> String? {
        do {
            let mark = try await store.changeMark()
            if let last, mark != last { await engine.refreshFromStore() }
            return mark
        } catch {
            logger.warning("cannot read the cluster's changes", metadata: ["schedd.error": "\(error)"])
            return last
        }
    }

    /// One round; failures are logged and the next round tries again (the store's trust
    /// window stops the node's starts meanwhile).
    func beat() async {
        do {
            switch try await store.renewLease(running: await engine.load().busy) {
            case .renewed(let offset):
                clock.setOffset(offset)
                if abs(offset) > 1000 {
                    logger.warning("this node's clock is off from the database's", metadata: ["schedd.clock_offset_ms": .stringConvertible(offset)])
                }
            case .fenced:
                logger.critical("this node was declared dead by the cluster (its lease lapsed); registering again", metadata: [
                    "schedd.node": "\(store.node)", "schedd.epoch": .stringConvertible(store.epoch),
                ])
                if let epoch = try await store.rejoin(workers: workers) {
                    logger.notice("this node rejoined the cluster", metadata: ["schedd.epoch": .stringConvertible(epoch)])
                } else {
                    logger.critical("another live node holds this node's name; this node starts nothing", metadata: ["schedd.node": "\(store.node)"])
                }
            }
            for run in try await store.declareExpiredNodesDead() {
                logger.warning("run lost with its node", metadata: [
                    "schedd.job": "\(run.job)", "schedd.run_id": .stringConvertible(run.id), "schedd.error": "\(run.error ?? "")",
                ])
            }
        } catch {
            logger.error("cannot renew this node's lease", metadata: ["schedd.error": "\(error)"])
        }
    }
}
