import Foundation
import Logging
import PostgresNIO
import Scheduler
import SchedulerAPI

extension PostgresStore {
    /// What a renewal found.
    public enum Renewal: Sendable, Equatable {
        /// Renewed; the database's clock minus this node's, in milliseconds.
        case renewed(clockOffsetMs: Int)
        /// The registration is no longer this node's: it was declared dead, or its name was
        /// taken over. The node must stop acting for the cluster.
        case fenced
    }

    /// Renews this node's lease with the database's clock, and records what `nodes` shows.
    public func renewLease(running: Int) async throws -> Renewal {
        let node = self.node
        let epoch = self.epoch
        let seconds = Self.seconds(lease)
        let asked = ContinuousClock.now
        let before = Date()
        let databaseNow: Double? = try await call("renew lease") { connection in
            var now: Double?
            for try await value in try await connection.query("""
                UPDATE nodes SET heartbeat_at = now(), lease_until = now() + make_interval(secs => \(seconds)), running = \(Int32(running))
                WHERE name = \(node) AND epoch = \(epoch) AND state = 'up'
                RETURNING extract(epoch FROM now())::float8
                """).decode(Double.self) { now = value }
            return now
        }
        guard let databaseNow else { return .fenced }
        trustedUntil.withLock { $0 = max($0, asked + Self.trustWindow(lease)) }
        // The database's clock against the middle of the round trip on this node's.
        let middle = (before.timeIntervalSince1970 + Date().timeIntervalSince1970) / 2
        let offset = Int(((databaseNow - middle) * 1000).rounded())
        try await call("clock offset") { connection in
            try await connection.query("UPDATE nodes SET clock_offset_ms = \(Int32(clamping: offset)) WHERE name = \(node) AND epoch = \(epoch)")
        }
        changes.bump()
        return .renewed(clockOffsetMs: offset)
    }

    /// How long the name of a node that left cleanly, or was declared dead, stays in `nodes`
    /// (and `schedctl nodes`) after its last heartbeat.
    public static let goneNodesKept: Duration = .seconds(86_400)

    /// Declares dead every node whose lease has expired by the database's clock, marks its
    /// running runs `lost`, and takes over its pending retries (this node runs them from now
    /// on) and the final results its runs left to apply, and those of the nodes down before
    /// (left, or dead); returns them, and the nodes down more than `goneNodesKept`, forgotten
    /// now. Any node may do it, any number of times: a node is declared dead once, and a
    /// retry or a final result taken over is this node's, so what a node leaves is taken over
    /// once.
    public func declareExpiredNodesDead() async throws -> DeadNodesTakeover {
        let node = self.node
        let takeover: DeadNodesTakeover = try await transaction("expired nodes") { connection in
            let log = Logger(label: "schedd")
            var dead: [(String, Int64)] = []
            for try await (name, epoch) in try await connection.query("""
                UPDATE nodes SET state = 'dead' WHERE state = 'up' AND lease_until < now() RETURNING name, epoch
                """, logger: log).decode((String, Int64).self) { dead.append((name, epoch)) }
            var lost: [RunRecord] = []
            for (name, epoch) in dead {
                lost += try await Self.records(try await connection.query("""
                    UPDATE runs SET status = 'lost', finished_at = now(),
                        duration_ms = greatest(0, round(extract(epoch FROM (now() - started_at)) * 1000))::bigint,
                        error = 'lost: node ' || \(name) || ' stopped renewing its lease while the run was active'
                    WHERE status = 'running' AND node = \(name) AND epoch <= \(epoch)
                    RETURNING \(unescaped: Self.runColumns)
                    """, logger: log))
            }
            // The nodes that are down (left cleanly, or dead); those down for long are
            // forgotten: nodes started under a new host name each time (containers) would
            // otherwise add a row at every start, for good. What they left (but a job's retry
            // pinned to them, kept by name) was taken over by then. A dead node's process may
            // only be frozen and write when it wakes, however late: it finds no registration
            // then (fenced), and its old epoch matches no registration made since, under any
            // name (epochs come from one sequence), so its late writes are refused as they are
            // while its row stays.
            var down: [String] = []
            var forgotten: [String] = []
            for try await (name, forget) in try await connection.query("""
                WITH forgotten AS (
                    DELETE FROM nodes WHERE state IN ('left', 'dead') AND heartbeat_at < now() - make_interval(secs => \(Self.seconds(Self.goneNodesKept)))
                    RETURNING name)
                SELECT name, name IN (SELECT name FROM forgotten) FROM nodes WHERE state IN ('left', 'dead') ORDER BY name
                """, logger: log).decode((String, Bool).self) {
                if forget { forgotten.append(name) } else { down.append(name) }
            }
            // A node that left (shut down, and perhaps not coming back) hands on its waiting
            // retries and its final results left to apply as a dead one does; so does a dead
            // one whose marks were written after it was declared dead (a frozen process that
            // woke as it stopped). Its row is locked first: a node registering under that name
            // at this moment either waits for this transaction and then finds them taken, or
            // has made the row `up` already and keeps them (this passes the row over).
            var gone = dead.map(\.0)
            let declared = Set(gone)
            down.removeAll { declared.contains($0) }
            if !down.isEmpty {
                // Looked for from the waiting retries, through their index (a handful of rows),
                // whatever the statistics of a table that grows by the minute say: a scan of
                // `runs` would cost every node's every sweep.
                try await connection.query("SET LOCAL enable_seqscan = off", logger: log)
                for try await name in try await connection.query("""
                    SELECT n.name FROM nodes n WHERE n.name = ANY(\(down)) AND n.state IN ('left', 'dead') AND (n.name IN (
                        SELECT coalesce(r.retry_node, r.node) FROM runs r LEFT JOIN jobs j ON j.name = r.job
                        WHERE \(unescaped: RetryMarkSQL.pending) AND coalesce(j.spec::jsonb ->> 'node', '') <> coalesce(r.retry_node, r.node))
                      OR n.name IN (SELECT r.policy_pending FROM runs r WHERE r.policy_pending IS NOT NULL))
                    FOR UPDATE OF n SKIP LOCKED
                    """, logger: log).decode(String.self) { gone.append(name) }
                try await connection.query("SET LOCAL enable_seqscan = on", logger: log)
            }
            var dues: [Int64: Date] = [:]
            for name in gone {
                var taken: [Int64] = []
                for try await (id, job, due, spec) in try await connection.query("""
                    SELECT r.id, r.job, r.retry_at, j.spec FROM runs r LEFT JOIN jobs j ON j.name = r.job
                    WHERE coalesce(r.retry_node, r.node) = \(name) AND \(unescaped: RetryMarkSQL.pending)
                    FOR UPDATE OF r
                    """, logger: log).decode((Int64, String, Date, String?).self) {
                    // A job pinned to the node is never moved: its retry waits for it.
                    if let spec, (try? JobStore.decodeSpec(spec, name: job))?.node == name { continue }
                    taken.append(id)
                    dues[id] = Self.ms(due)
                }
                if !taken.isEmpty {
                    try await connection.query("UPDATE runs SET retry_node = \(node) WHERE id = ANY(\(taken))", logger: log)
                }
            }
            var retries: [(run: RunRecord, due: Date)] = []
            if !dues.isEmpty {
                let ids = Array(dues.keys)
                retries = try await Self.records(try await connection.query("""
                    SELECT \(unescaped: Self.runColumnsWithoutOutput) FROM runs WHERE id = ANY(\(ids)) ORDER BY id
                    """, logger: log)).compactMap { run in dues[run.id].map { (run: run, due: $0) } }
            }
            // The final results its runs left to apply (they ended as it stopped): this node's
            // to apply from now on, whatever their jobs are pinned to (a follow-up job runs
            // where it may; a failure counts across the cluster).
            var policies: [RunRecord] = []
            if !gone.isEmpty {
                policies = try await Self.records(try await connection.query("""
                    UPDATE runs SET policy_pending = \(node) WHERE policy_pending = ANY(\(gone))
                    RETURNING \(unescaped: Self.runColumnsWithoutOutput)
                    """, logger: log)).sorted { $0.id < $1.id }
            }
            return DeadNodesTakeover(lost: lost, retries: retries, policies: policies, forgotten: forgotten)
        }
        if !takeover.isEmpty || !takeover.forgotten.isEmpty { changes.bump() }
        return takeover
    }

    /// Registers again after being fenced (declared dead while frozen or cut off): a new
    /// epoch, so that what the node did under the old one stays refused. Nil while another
    /// live node holds the name.
    public func rejoin(workers: Int) async throws -> Int64? {
        let asked = ContinuousClock.now
        guard let epoch = try await register(workers: workers) else { return nil }
        registration.withLock { $0 = epoch }
        trustedUntil.withLock { $0 = asked + Self.trustWindow(lease) }
        changes.bump()
        return epoch
    }

    /// A mark that changes whenever a node changes the job set, a job's pause or the cluster's zone.
    public func changeMark() async throws -> String {
        return try await call("change mark") { connection in
            var mark = ""
            for try await value in try await connection.query("""
                SELECT string_agg(value, '/' ORDER BY key) FROM meta WHERE key IN ('jobs_generation', 'pauses_generation', 'time_zone')
                """).decode(String?.self) { mark = value ?? "" }
            return mark
        }
    }

    /// Leaves the cluster on a clean shutdown: the node's name is free at once.
    public func leave() async {
        let node = self.node
        let epoch = self.epoch
        do {
            try await call("leave") { connection in
                try await connection.query("UPDATE nodes SET state = 'left', running = 0 WHERE name = \(node) AND epoch = \(epoch)")
            }
            logger.info("left the cluster", metadata: ["schedd.node": "\(node)", "schedd.epoch": .stringConvertible(epoch)])
        } catch {
            logger.warning("cannot record that this node leaves the cluster", metadata: ["schedd.error": "\(error)"])
        }
    }

    /// The nodes of the cluster, as `schedctl nodes` shows them.
    public func nodes() async throws -> [NodeInfo] {
        return try await call("nodes") { connection in
            var nodes: [NodeInfo] = []
            for try await (name, state, epoch, heartbeatAge, leaseLeft, workers, running, offset, started, version) in try await connection.query("""
                SELECT name, state, epoch, extract(epoch FROM (now() - heartbeat_at))::float8, extract(epoch FROM (lease_until - now()))::float8,
                       workers, running, clock_offset_ms, started_at, version
                FROM nodes ORDER BY name
                """).decode((String, String, Int64, Double, Double, Int32, Int32, Int32?, Date, String?).self) {
                nodes.append(NodeInfo(name: name, state: state, epoch: epoch, heartbeatAgeMs: Int64(heartbeatAge * 1000),
                                      leaseRemainingMs: Int64(leaseLeft * 1000), workers: Int(workers), running: Int(running),
                                      clockOffsetMs: offset.map(Int.init), startedAt: Self.ms(started), version: version))
            }
            return nodes
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
