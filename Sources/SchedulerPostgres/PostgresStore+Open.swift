import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import Scheduler
import SchedulerAPI

extension PostgresStore {
    /// How a node takes part in the cluster.
    public struct Options: Sendable {
        /// A node whose lease has expired is dead to the others.
        public var lease: Duration = .seconds(10)
        /// The longest one call to the database may take; shorter than the lease.
        public var callTimeout: Duration = .seconds(3)
        /// The node's worker count, shown by `schedctl nodes`.
        public var workers: Int = 0
        /// A connection idle this long is closed (tests shorten it).
        var connectionIdleTimeout: Duration = .seconds(10)

        public init() {}
    }

    /// Connects to the database at `url`, creates or migrates its schema, registers `node`,
    /// runs `body` with the store, and closes the connections after it. Refuses a database
    /// whose schema is newer than this schedd's, and a node name a live node holds (after
    /// waiting out that node's lease, in case it is this node's own previous life).
    public static func withStore<T: Sendable>(url: PostgresURL, node: String, options: Options = Options(), logger: Logger,
                                              _ body: (PostgresStore) async throws -> T) async throws -> T {
        try await probe(url: url, options: options, logger: logger)
        let client = PostgresClient(configuration: clientConfiguration(url: url, options: options), backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            let store = try await open(client: client, url: url, node: node, options: options, logger: logger)
            return try await body(store)
        }
    }

    /// One connection, made and closed before the pool starts: the pool retries a connection
    /// that fails, logging each try at info level only, until the migration's deadline (a
    /// minute), and then says only that the database did not answer. This says at once why
    /// (no such socket, connection refused, an unknown host, a refused password, no such
    /// database), and the unit's restart tries again.
    static func probe(url: PostgresURL, options: Options, logger: Logger) async throws {
        var quiet = logger
        quiet.logLevel = .critical
        do {
            var configuration = try url.connectionConfiguration()
            configuration.options.connectTimeout = .milliseconds(Int64(Self.seconds(options.callTimeout) * 1000))
            let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: quiet)
            try? await connection.close()
        } catch let error as PSQLError {
            throw APIError(.databaseUnavailable, "cannot connect to the PostgreSQL database \(url.description): \(connectionProblem(error))")
        } catch {
            throw APIError(.databaseUnavailable, "cannot connect to the PostgreSQL database \(url.description): \(error)")
        }
    }

    /// What the server said (a refused password, no such database), or why no connection was
    /// made (the system's reason for a socket, NIO's for a host).
    static func connectionProblem(_ error: PSQLError) -> String {
        if error.serverInfo?[.message] != nil { return describe(error) }
        switch error.underlying {
        case let io as IOError: return String(cString: strerror(io.errnoCode))
        case let failed as NIOConnectionError:
            // Each address tried failed the same way, as a rule: the first one's reason.
            if let io = failed.connectionErrors.first?.error as? IOError {
                return "\(String(cString: strerror(io.errnoCode))) (\(failed.host):\(failed.port))"
            }
            return "\(failed)"
        case let other?: return "\(other)"
        case nil: return "\(error.code)"
        }
    }

    /// The connection pool's settings for a node with `options`.
    static func clientConfiguration(url: PostgresURL, options: Options) -> PostgresClient.Configuration {
        var configuration = url.clientConfiguration
        configuration.options.connectTimeout = options.callTimeout
        configuration.options.maximumConnections = 16
        // Each time a connection goes back to the pool, postgres-nio starts an idle timer for
        // it, and a keep-alive timer when it has a keep-alive (a sleeping task each); the next
        // lease cancels them, but a cancelled sleep holds its memory until its time would have
        // come. At a thousand calls a second, postgres-nio's 30 s and 60 s held ~90,000 of them,
        // ~20 MiB. A connection idle for 10 s is closed (one is opened again in a few
        // milliseconds), and there is no keep-alive: an idle connection is closed before one
        // would be needed, and a keep-alive's query that meets the idle close is written to a
        // closing connection, never answers, and holds the client's `run()`, so the node's exit,
        // for ever (`theStoreClosesAtOnceAfterItsConnectionsIdledOut`).
        configuration.options.connectionIdleTimeout = options.connectionIdleTimeout
        configuration.options.keepAliveBehavior = nil
        // Deadlines the server keeps too. A node that freezes or is cut off in the middle of a
        // transaction keeps its row locks until the server ends that transaction, and every
        // other node would wait on them (its lease renewals included): the server ends a
        // transaction idle for a third of the lease, a statement past the call deadline, and
        // a wait for a lock past half of it.
        let milliseconds = { (duration: Duration) in String(Int64(Self.seconds(duration) * 1000)) }
        configuration.options.additionalStartupParameters = [
            ("statement_timeout", milliseconds(options.callTimeout)),
            ("lock_timeout", milliseconds(options.callTimeout / 2)),
            ("idle_in_transaction_session_timeout", milliseconds(options.lease / 3)),
        ]
        return configuration
    }

    static func open(client: PostgresClient, url: PostgresURL, node: String, options: Options, logger: Logger) async throws -> PostgresStore {
        // A store for the set-up calls, before the node has its registration.
        let setup = PostgresStore(client: client, url: url, node: node, epoch: 0, clusterID: "", callTimeout: options.callTimeout,
                                  lease: options.lease, logger: logger)
        do {
            try await setup.migrate()
        } catch let error as APIError where error.code == .databaseUnavailable {
            throw APIError(.databaseUnavailable, "cannot reach the PostgreSQL database \(url.description): \(error.message)")
        }
        let clusterID = try await setup.call("cluster id") { connection in
            var id = ""
            for try await value in try await connection.query("SELECT value FROM meta WHERE key = 'cluster_id'").decode(String.self) { id = value }
            return id
        }
        let deadline = ContinuousClock.now + options.lease + .seconds(2)
        var announced = false
        while true {
            let asked = ContinuousClock.now
            if let epoch = try await setup.register(workers: options.workers) {
                return PostgresStore(client: client, url: url, node: node, epoch: epoch, clusterID: clusterID,
                                     callTimeout: options.callTimeout, lease: options.lease, logger: logger, renewedAt: asked)
            }
            guard ContinuousClock.now < deadline else {
                throw APIError(.conflict, "the node name \"\(node)\" is held by a live node of the cluster (its lease is renewed); give each node its own --node")
            }
            if !announced {
                logger.notice("waiting for the lease of a node with this name to expire", metadata: ["schedd.node": "\(node)"])
                announced = true
            }
            try await Task.sleep(for: .milliseconds(500))
        }
    }

    /// Brings the schema to the current version, under an advisory lock so that nodes
    /// starting together migrate once.
    func migrate() async throws {
        // Nodes started together wait for the one that migrates: the lock is tried, not waited
        // for in the transaction (a wait there ran into the session's lock timeout while
        // another node's migration went on, and that node failed to start).
        let deadline = ContinuousClock.now + .seconds(60)
        while try await !migrateOnce() {
            guard ContinuousClock.now < deadline else {
                throw APIError(.databaseUnavailable, "another node has held the schema's migration lock for over a minute")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// How long a migration may take. Not the call deadline: that bounds the calls a running
    /// node makes over and over, and a schema change on a loaded server (or one waiting for
    /// the other nodes' statements on a table it alters) takes longer; a node that cannot
    /// migrate in it does not start.
    static let migrationTimeout: Duration = .seconds(60)

    /// Migrates under the advisory lock; false when another node holds it.
    func migrateOnce() async throws -> Bool {
        let limit = String(Int64(Self.seconds(Self.migrationTimeout) * 1000))
        let logger = self.logger
        return try await call("migrate", timeout: Self.migrationTimeout) { connection in
            // Between BEGIN and the transaction's first statement only the session's idle limit
            // holds (a third of the lease, so that a frozen node's locks go with it): a node
            // slowed that long at start-up can have its connection closed under it, and then
            // waits out the whole deadline (postgres-nio does not fail a query sent on a closed
            // connection). The session gets the migration's limit first, and its own back after.
            try await connection.query("SELECT set_config('idle_in_transaction_session_timeout', \(limit), false)", logger: logger)
            do {
                let migrated = try await Self.migrate(connection, limit: limit)
                try await connection.query("RESET idle_in_transaction_session_timeout", logger: logger)
                return migrated
            } catch {
                _ = try? await connection.query("RESET idle_in_transaction_session_timeout", logger: logger)
                throw error
            }
        }
    }

    /// The migration's transaction, on one connection; false when another node holds its lock.
    private static func migrate(_ connection: PostgresConnection, limit: String) async throws -> Bool {
        try await connection.withTransaction(logger: Logger(label: "schedd")) { connection in
            let log = Logger(label: "schedd")
            // The session's limits are the call deadline's; this transaction has its own (the
            // server would otherwise end it when the node is slow between two statements).
            try await connection.query("""
                SELECT set_config('statement_timeout', \(limit), true), set_config('lock_timeout', \(limit), true),
                       set_config('idle_in_transaction_session_timeout', \(limit), true)
                """, logger: log)
            var locked = false
            for try await got in try await connection.query("SELECT pg_try_advisory_xact_lock(\(PostgresSchema.migrationLock))", logger: log)
                .decode(Bool.self) { locked = got }
            guard locked else { return false }
            var version = 0
            var exists = false
            for try await found in try await connection.query("SELECT to_regclass('meta') IS NOT NULL", logger: log).decode(Bool.self) {
                exists = found
            }
            if exists {
                for try await value in try await connection.query("SELECT value FROM meta WHERE key = 'schema_version'", logger: log)
                    .decode(String.self) { version = Int(value) ?? 0 }
            }
            if version > PostgresSchema.currentVersion {
                throw APIError(.databaseUnusable, """
                    the database has schema version \(version), newer than this schedd knows (\(PostgresSchema.currentVersion)); \
                    upgrade schedd on this node
                    """)
            }
            for next in version..<PostgresSchema.currentVersion {
                for statement in PostgresSchema.migrations[next] {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: log)
                }
                try await connection.query("""
                    INSERT INTO meta (key, value) VALUES ('schema_version', \(String(next + 1)))
                    ON CONFLICT (key) DO UPDATE SET value = excluded.value
                    """, logger: log)
            }
            return true
        }
    }

    /// The schema version of the database.
    public func schemaVersion() async throws -> Int {
        return try await call("schema version") { connection in
            var version = 0
            for try await value in try await connection.query("SELECT value FROM meta WHERE key = 'schema_version'").decode(String.self) {
                version = Int(value) ?? 0
            }
            return version
        }
    }

    /// Registers this node, or takes its name over from a registration whose lease has
    /// expired, with a new epoch (the cluster's sequence: greater than every epoch before, under
    /// any name, and never reused); nil while a live registration holds the name.
    func register(workers: Int) async throws -> Int64? {
        let node = self.node
        let lease = Double(lease.components.seconds) + Double(lease.components.attoseconds) / 1e18
        let pid = Int32(getpid())
        return try await call("register") { connection in
            var epoch: Int64?
            for try await value in try await connection.query("""
                INSERT INTO nodes AS n (name, epoch, state, started_at, heartbeat_at, lease_until, workers, pid, version)
                VALUES (\(node), nextval('node_epochs'), 'up', now(), now(), now() + make_interval(secs => \(lease)), \(Int32(workers)), \(pid), \(Version.current))
                ON CONFLICT (name) DO UPDATE SET epoch = excluded.epoch, state = 'up', started_at = now(), heartbeat_at = now(),
                    lease_until = excluded.lease_until, workers = excluded.workers, running = 0, pid = excluded.pid, version = excluded.version
                WHERE n.state <> 'up' OR n.lease_until < now()
                RETURNING epoch
                """).decode(Int64.self) { epoch = value }
            return epoch
        }
    }
}
