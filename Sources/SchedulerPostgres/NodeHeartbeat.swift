import Logging
import PostgresNIO
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
    let changes: ChangeFollower
    /// Set when another node asks for the output of a run of this node.
    let outputAsked = NudgeFlag()
    let logger: Logger

    public init(store: PostgresStore, clock: DatabaseClock, engine: JobScheduler, workers: Int, logger: Logger) {
        self.engine = engine
        self.store = store
        self.clock = clock
        self.workers = workers
        self.changes = ChangeFollower(store: store, engine: engine, logger: logger)
        self.logger = logger
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await watchLease() }
                // The renewal on its own loop: nothing else the node asks of the database (which
                // can wait on another node's locks) may hold it up.
                group.addTask {
                    while !Task.isCancelled {
                        await beat()
                        try await Task.sleep(for: store.lease / 3)
                    }
                }
                group.addTask {
                    while !Task.isCancelled {
                        await sweep()
                        await passOnCancels()
                        await changes.follow()
                        try await Task.sleep(for: store.lease / 3)
                    }
                }
                group.addTask { try await listenForOtherNodes() }
                group.addTask { try await shareFollowedOutput() }
                try await group.next()
                group.cancelAll()
            }
        }
        // Also when the shutdown's backstop has cancelled this task: the node's name is then
        // free at once instead of after its lease (the call keeps its own deadline).
        try? await store.uncancelled { await store.leave() }
    }

    /// Stops every run of this node as soon as its lease can no longer be trusted (by the
    /// monotonic clock: renewals failing, or the node frozen and woken), before any other node
    /// may declare it dead and take its work over. Once per lapse.
    func watchLease() async throws {
        var stopped = false
        while !Task.isCancelled {
            let until = store.leaseTrustedUntil
            if ContinuousClock.now >= until {
                if !stopped {
                    let count = await engine.stopAllRuns(reason: "stopped: this node's lease lapsed (the cluster may run its work elsewhere)")
                    logger.critical("this node's lease lapsed; it stopped its runs and starts nothing until it renews", metadata: [
                        "schedd.node": "\(store.node)", "schedd.runs": .stringConvertible(count),
                    ])
                    stopped = true
                }
                try await Task.sleep(for: .milliseconds(100))
            } else {
                stopped = false
                // Short steps: a frozen node that wakes notices the lapse at once.
                try await Task.sleep(for: min(.milliseconds(250), until - ContinuousClock.now + .milliseconds(1)))
            }
        }
    }

    /// Wakes the engine whenever a node queues slots or a run that a retry or a missed time of
    /// this node may wait for is no longer queued or running (the payload names its job),
    /// passes on the cancels another node asks of this node's runs, follows changes to the
    /// jobs, and hears when another node follows the output of a run of this node (`LISTEN` on the four channels, on a connection of its
    /// own); a lost connection is opened again after a second. The engine's poll, and this
    /// service's sweep and polls, cover the gaps.
    func listenForOtherNodes() async throws {
        let channels = [PostgresStore.queueChannel, PostgresStore.cancelChannel, PostgresStore.jobsChannel, PostgresStore.outputChannel]
        while !Task.isCancelled {
            do {
                try await store.client.withConnection { connection in
                    try await Self.listen(connection, on: channels[...]) { streams in
                        // What was notified while this node was not listening is polled.
                        logger.info("listening for the other nodes' notifications")
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            let (queued, cancels, changed, followed) = (streams[0], streams[1], streams[2], streams[3])
                            group.addTask {
                                for try await notification in queued {
                                    engine.nudgeQueue()
                                    if !notification.payload.isEmpty { await engine.runEndedElsewhere(job: notification.payload) }
                                }
                            }
                            group.addTask {
                                for try await notification in cancels where notification.payload == store.node {
                                    await passOnCancels()
                                }
                            }
                            group.addTask { for try await _ in changed { await changes.follow() } }
                            group.addTask {
                                for try await notification in followed where notification.payload == store.node || notification.payload == "*" {
                                    outputAsked.set()
                                }
                            }
                            try await group.next()
                            group.cancelAll()
                        }
                    }
                }
            } catch where !Task.isCancelled {
                logger.warning("cannot listen for the other nodes' notifications; polling meanwhile", metadata: ["schedd.error": "\(error)"])
            }
            try await Task.sleep(for: .seconds(1))
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
                await engine.stopAllRuns(reason: "stopped: the cluster declared this node dead (its runs are lost)")
                await engine.dropPendingRetries()
                logger.critical("this node was declared dead by the cluster (its lease lapsed); registering again", metadata: [
                    "schedd.node": "\(store.node)", "schedd.epoch": .stringConvertible(store.epoch),
                ])
                if let epoch = try await store.rejoin(workers: workers) {
                    logger.notice("this node rejoined the cluster", metadata: ["schedd.epoch": .stringConvertible(epoch)])
                    await engine.resumePendingRetries()
                } else {
                    logger.critical("another live node holds this node's name; this node starts nothing", metadata: ["schedd.node": "\(store.node)"])
                }
            }
        } catch {
            logger.error("cannot renew this node's lease", metadata: ["schedd.error": "\(error)"])
        }
    }

    /// Listens on each channel in turn and calls `body` with their notifications, in the same
    /// order; every channel is unlistened when `body` returns.
    static func listen(_ connection: PostgresConnection, on channels: ArraySlice<String>, streams: [PostgresNotificationSequence] = [],
                       _ body: @Sendable ([PostgresNotificationSequence]) async throws -> Void) async throws {
        guard let channel = channels.first else { return try await body(streams) }
        try await connection.listen(on: channel) { stream in
            try await listen(connection, on: channels.dropFirst(), streams: streams + [stream], body)
        }
    }

    /// Writes the output so far of this node's runs that another node follows (`schedctl run
    /// --wait` or `logs --follow` there) every 250 ms while it grows. Which runs are followed is
    /// read when a follower's node says so (`NOTIFY`), every 2 s while some are, and on the
    /// slow poll otherwise.
    func shareFollowedOutput() async throws {
        var followed: [Int64] = []
        var written: [Int64: Int64] = [:]
        var nextLook = ContinuousClock.now
        while !Task.isCancelled {
            if outputAsked.take() || ContinuousClock.now >= nextLook {
                do {
                    followed = try await store.outputWanted()
                } catch {
                    logger.warning("cannot read which runs other nodes follow", metadata: ["schedd.error": "\(error)"])
                }
                nextLook = ContinuousClock.now + (followed.isEmpty ? store.lease / 3 : .seconds(2))
                written = written.filter { followed.contains($0.key) }
            }
            var tails: [(runID: Int64, tail: OutputTail)] = []
            for id in followed {
                guard let tail = await engine.liveOutput(runID: id), tail.totalBytes != written[id] else { continue }
                tails.append((id, tail))
            }
            if !tails.isEmpty {
                do {
                    try await store.writeOutputSoFar(tails)
                    for (id, tail) in tails { written[id] = tail.totalBytes }
                } catch {
                    logger.warning("cannot write the output of runs other nodes follow", metadata: ["schedd.error": "\(error)"])
                }
            }
            try await Task.sleep(for: .milliseconds(250))
        }
    }

    /// Cancels the runs of this node that other nodes asked to cancel, and does the stops,
    /// starts and restarts they asked of its services.
    func passOnCancels() async {
        do {
            let requests = try await store.cancelRequests()
            if !requests.isEmpty { await engine.cancelAsked(requests) }
        } catch {
            logger.warning("cannot read the cancels asked of this node", metadata: ["schedd.error": "\(error)"])
        }
        do {
            let commands = try await store.serviceCommands()
            guard !commands.isEmpty else { return }
            for (id, answer) in await engine.serviceCommandsAsked(commands) {
                try await store.answerServiceCommand(id, answer)
            }
        } catch {
            logger.warning("cannot read or answer the service commands asked of this node", metadata: ["schedd.error": "\(error)"])
        }
    }

    /// Declares dead the nodes whose lease expired, retries what they lost, takes over the
    /// waiting retries and the final results left to apply of those and of the nodes that
    /// left, forgets the nodes gone a day ago, gives up on queued runs that waited too long or
    /// whose node is gone, and tells the engine which nodes are up (the slots of a job pinned
    /// to a node that is not are missed).
    func sweep() async {
        do {
            let takeover = try await store.declareExpiredNodesDead()
            for run in takeover.lost {
                logger.warning("run lost with its node", metadata: [
                    "schedd.job": "\(run.job)", "schedd.run_id": .stringConvertible(run.id), "schedd.error": "\(run.error ?? "")",
                ])
            }
            if !takeover.isEmpty { await engine.takeOver(lost: takeover.lost, retries: takeover.retries, policies: takeover.policies) }
            if !takeover.forgotten.isEmpty {
                logger.info("forgot nodes gone from the cluster for a day", metadata: ["schedd.nodes": "\(takeover.forgotten.joined(separator: ", "))"])
            }
            let expired = try await store.expireQueued(tolerance: engine.lateTolerance)
            if !expired.isEmpty {
                logger.warning("queued runs given up", metadata: [
                    "schedd.runs": .stringConvertible(expired.count), "schedd.job": "\(expired[0].job)", "schedd.error": "\(expired[0].error ?? "")",
                ])
                await engine.queuedRunsExpired(expired)
            }
            let up = try await store.nodes().filter { $0.state == "up" && $0.leaseRemainingMs > 0 }.map(\.name)
            await engine.setNodesUp(Set(up))
        } catch {
            logger.warning("cannot look for nodes whose lease expired", metadata: ["schedd.error": "\(error)"])
        }
    }
}
