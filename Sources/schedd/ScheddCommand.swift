import ArgumentParser
import Foundation
import Logging
import Scheduler
import SchedulerControl
import SchedulerAPI
import SchedulerPostgres
import ServiceLifecycle
import UnixSignals

@main
struct ScheddCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedd",
        abstract: "The schedd job scheduler daemon.",
        discussion: """
            Keeps job definitions and run history in SQLite. With --config, the job file is \
            applied at start and again on SIGHUP. SIGTERM or SIGINT shut it down gracefully.
            """,
        version: Version.current)

    @Option(help: ArgumentHelp("The SQLite database.", discussion: "Default: $SCHEDD_DB, $STATE_DIRECTORY/schedd.db, /var/lib/schedd/schedd.db for root, else ~/.local/state/schedd/schedd.db.", valueName: "path"))
    var db: String?

    @Option(help: ArgumentHelp("Cluster mode: keep jobs and history in this PostgreSQL database, shared with the cluster's other nodes, instead of SQLite.",
                               discussion: "A libpq-style URL: postgresql://USER@/DB?host=/run/postgresql or postgresql://USER:PASSWORD@HOST:5432/DB. Default: $SCHEDD_POSTGRES.",
                               valueName: "url"))
    var postgres: String?

    @Option(help: ArgumentHelp("Cluster mode: how long a node's lease lasts; a node silent for longer is dead to the others.", valueName: "duration"))
    var lease: String = "10s"

    @Option(help: ArgumentHelp("A job file to apply at start and on SIGHUP.", valueName: "file"))
    var config: String?

    @Option(help: ArgumentHelp("The control socket.", discussion: "Default: $SCHEDD_SOCKET, $RUNTIME_DIRECTORY/schedd.sock, /run/schedd/schedd.sock for root, $XDG_RUNTIME_DIR/schedd/schedd.sock, else /tmp/schedd-$UID/schedd.sock.", valueName: "path"))
    var socket: String?

    @Option(help: ArgumentHelp("A group whose members are admins: they may do everything, as root may.", valueName: "group"))
    var adminGroup: String?

    @Option(help: ArgumentHelp("Deprecated: the old name of --admin-group.", valueName: "group"))
    var socketGroup: String?

    @Option(help: ArgumentHelp("Lets ordinary users manage their own jobs, which run as them: all (every local account) or a group's name.",
                               discussion: "Needs schedd to run as root. Without it only admins may use the socket.", valueName: "all|group"))
    var allowUsers: String?

    @Option(help: ArgumentHelp("The most jobs one user may have (with --allow-users; default: \(AccessPolicy.defaultUserMaxJobs)).", valueName: "n"))
    var userMaxJobs: Int?

    @Option(help: ArgumentHelp("The most runs of one user's jobs at once, running or waiting (default: half of --workers).", valueName: "n"))
    var userMaxRuns: Int?

    @Option(help: ArgumentHelp("Also serve the metrics over TCP at GET /metrics (e.g. 127.0.0.1:9464); off by default.",
                               discussion: "The control socket serves them too, at GET /v1/metrics.", valueName: "addr:port"))
    var metricsListen: String?

    @Option(help: ArgumentHelp("This node's name, given to every run as SCHEDD_NODE (default: the host name).", valueName: "name"))
    var node: String?

    @Option(help: ArgumentHelp("The zone of schedules that name none: an IANA name such as Europe/Berlin or UTC.",
                               discussion: "Default: the host's (TZ, else /etc/localtime), followed when it changes. In cluster mode every node reads them in the cluster's zone, kept in the database: the first node's, or the last one started with --timezone.",
                               valueName: "zone"))
    var timezone: String?

    @Option(help: ArgumentHelp("Runs at once (default: the number of CPUs, at least 2).", valueName: "n"))
    var workers: Int?

    @Option(help: ArgumentHelp("Runs that may wait for a worker at once; past it a trigger is recorded as skipped.", valueName: "n"))
    var maxQueued: Int = 10_000

    @Option(help: ArgumentHelp("How late a scheduled fire may start before it is a missed fire, which its job's catch_up decides about.",
                               valueName: "duration"))
    var lateTolerance: String = "60s"

    @Option(help: ArgumentHelp("How the processes of runs are found and stopped: auto (a cgroup per run where the system allows it, else /proc) or proc.",
                               valueName: "mode"))
    var processTracking: String = "auto"

    @Option(help: ArgumentHelp("On SIGTERM, how long runs may finish before they are stopped.", valueName: "duration"))
    var shutdownGrace: String = "30s"

    @Option(help: ArgumentHelp("Runs kept per job (older ones are pruned).", valueName: "n"))
    var historyKeep: Int = 1000

    @Option(help: ArgumentHelp("Prune runs older than this (e.g. 30d).", valueName: "duration"))
    var historyMaxAge: String?

    @Option(help: ArgumentHelp("trace, debug, info, notice, warning, error or critical.", valueName: "level"))
    var logLevel: String = "info"

    @Option(help: ArgumentHelp("auto (journal under systemd, else plain), journal, plain or json.", valueName: "format"))
    var logFormat: String = "auto"

    func validate() throws {
        if let workers, workers < 1 { throw ValidationError("--workers must be at least 1") }
        if let node, let problem = NodeNames.problem(node) { throw ValidationError("--node \"\(node)\": \(problem)") }
        if postgres != nil && db != nil { throw ValidationError("--db and --postgres name two databases: give one of them") }
        if let postgres {
            do { _ = try PostgresURL(postgres) } catch { throw ValidationError("--postgres: \(error.message)") }
        }
        guard let leaseMs = DurationText.milliseconds(lease), leaseMs >= 3_000 else {
            throw ValidationError("--lease \"\(lease)\" is not a duration of at least 3s")
        }
        if maxQueued < 1 { throw ValidationError("--max-queued must be at least 1") }
        if let timezone, ZoneRules.named(timezone) == nil {
            throw ValidationError("--timezone \"\(timezone)\" is not a time zone name (an IANA name such as Europe/Berlin or UTC)")
        }
        guard let toleranceMs = DurationText.milliseconds(lateTolerance), toleranceMs >= 1_000 else {
            throw ValidationError("--late-tolerance \"\(lateTolerance)\" is not a duration of at least 1s")
        }
        if processTracking != "auto" && processTracking != "proc" {
            throw ValidationError("--process-tracking \"\(processTracking)\" is not one of auto, proc")
        }
        // The groups are looked up once, off the cooperative pool, by `accessPolicy`.
        if adminGroup != nil && socketGroup != nil {
            throw ValidationError("--socket-group is the old name of --admin-group: give one of them")
        }
        if allowUsers != nil && geteuid() != 0 {
            throw ValidationError("--allow-users needs schedd to run as root: a user's jobs run as that user")
        }
        if let metricsListen, Self.hostAndPort(metricsListen) == nil {
            throw ValidationError("--metrics-listen \"\(metricsListen)\" is not ADDR:PORT (e.g. 127.0.0.1:9464)")
        }
        if let userMaxJobs, userMaxJobs < 0 { throw ValidationError("--user-max-jobs must be 0 or more") }
        if let userMaxRuns, userMaxRuns < 1 { throw ValidationError("--user-max-runs must be at least 1") }
        if DurationText.milliseconds(shutdownGrace) == nil {
            throw ValidationError("--shutdown-grace \"\(shutdownGrace)\" is not a duration (e.g. 30s)")
        }
        if historyKeep < 1 { throw ValidationError("--history-keep must be at least 1") }
        if let age = historyMaxAge {
            guard let ms = DurationText.milliseconds(age) else {
                throw ValidationError("--history-max-age \"\(age)\" is not a duration (e.g. 30d, 12h)")
            }
            // 0 would delete each run's record as soon as it ends: never what is meant.
            if ms == 0 { throw ValidationError("--history-max-age must be longer than 0s (e.g. 30d, 12h)") }
        }
        if logFormat != "auto" && DaemonLogHandler.Format(rawValue: logFormat) == nil {
            throw ValidationError("--log-format \"\(logFormat)\" is not one of auto, journal, plain, json")
        }
        if Logger.Level(rawValue: logLevel) == nil {
            throw ValidationError("--log-level \"\(logLevel)\" is not one of trace, debug, info, notice, warning, error, critical")
        }
    }

    /// Runs the daemon with the exit codes of `docs/operations.md`: 0 a clean stop, 1 it cannot
    /// start or stopped on a failure, 2 a bad option, socket path or job file (ArgumentParser's
    /// own code for a bad option is EX_USAGE, 64; schedctl's is 2 too, and the unit does not
    /// restart schedd on 2: starting again would fail the same way).
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var daemon = command as? any AsyncParsableCommand {
                try await daemon.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if !message.isEmpty {
                (code == .success ? FileHandle.standardOutput : FileHandle.standardError).write(Data((message + "\n").utf8))
            }
            Foundation.exit(code == .validationFailure ? 2 : code.rawValue)
        }
    }

    func run() async throws {
        // Until the reloader traps it: SIGHUP's default action would end schedd on the spot
        // (a `systemctl reload` while it starts).
        signal(SIGHUP, SIG_IGN)
        Malloc.useOneArena()
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let environment = ProcessInfo.processInfo.environment
        let format = DaemonLogHandler.Format(rawValue: logFormat) ?? .automatic(environment: environment)
        let logWriter = DaemonLogHandler.startWriter(format: format)
        LoggingSystem.bootstrap { label in DaemonLogHandler(label: label, format: format, level: level) }
        do {
            try await runDaemon(environment: environment)
        } catch {
            // What was logged on the way out (why it did not start) is written before it exits.
            await logWriter.flush()
            throw error
        }
        await logWriter.flush()
    }

    func runDaemon(environment: [String: String]) async throws {
        let logger = Logger(label: "schedd")
        let socketPath = socket ?? DefaultPaths.socket(environment: environment)
        // Refused before anything is created (a database, a lock, a directory).
        if let problem = UnixSocketAddress.pathProblem(socketPath) { throw refusal(problem, exitCode: 2, logger) }
        if let text = postgres ?? environment["SCHEDD_POSTGRES"].flatMap({ $0.isEmpty ? nil : $0 }) {
            try await runClusterNode(text, socketPath: socketPath, environment: environment, logger: logger)
            return
        }
        let dbPath = db ?? DefaultPaths.database(environment: environment)
        // The database holds the jobs: whoever may write or replace it decides what runs.
        if let problem = await BlockingWork.run({ FileTrust.problem(.database, path: dbPath, uid: geteuid()) }) {
            throw refusal(problem, logger)
        }
        let access = try await accessPolicy(logger: logger)
        // A first start with a bad job file is refused before anything is created: no database,
        // no lock file, no socket. (With a database, the file is checked against its jobs below.)
        if let config, !(await BlockingWork.run { FileManager.default.fileExists(atPath: dbPath) }) {
            try await validateOffline(config)
        }
        // One daemon per database and per socket: a second one refuses to start. Off the
        // cooperative pool, as every start-up step that touches files.
        let lock: DatabaseLock
        do {
            lock = try await BlockingWork.run { () throws(APIError) in try DatabaseLock(databasePath: dbPath) }
        } catch {
            throw refusal(error.message, logger)
        }
        defer { lock.release() }
        do {
            try await ControlServer.prepareSocket(socketPath, access: access)
        } catch {
            await BlockingWork.run { if !FileManager.default.fileExists(atPath: dbPath) { lock.removeIfMade() } }
            throw refusal(error.message, logger)
        }
        let database: SchedulerDatabase
        do {
            // Opening migrates the schema: seconds on a large history.
            database = try await BlockingWork.run { () throws(APIError) in try SchedulerDatabase(path: dbPath) }
        } catch {
            throw refusal(error.message, logger, log: "cannot open the database")
        }
        let fileWatch = DatabaseFileWatch(database: database, logger: logger)
        do {
            try await serve(store: database, clock: SystemClock(), socketPath: socketPath, access: access, environment: environment,
                            timeZone: timezone, logger: logger) { _ in
                [.init(service: fileWatch, successTerminationBehavior: .gracefullyShutdownGroup)]
            }
        } catch {
            try? await BlockingWork.run { try database.close() }
            if let error = error as? APIError { throw refusal(error.message, logger, log: "schedd stopped: one of its parts failed") }
            throw error
        }
        if let place = fileWatch.displacement {
            // Run after the drain, so that the copy holds the ends of the runs it waited for.
            // The open database is the only copy of what it holds: a copy that fails (a full
            // disk) is tried again until it is written or schedd is told to stop.
            let stop = await UnixSignalsSequence(trapping: .sigterm, .sigint)
            let saved = await withTaskGroup(of: String?.self) { group in
                group.addTask {
                    for await _ in stop { return nil }
                    return nil
                }
                group.addTask {
                    while !Task.isCancelled {
                        do {
                            return try await database.closeDisplaced(place)
                        } catch {
                            logger.critical("schedd could not save the database it had open; trying again every 10s until it can (make room) or is stopped",
                                            metadata: ["schedd.db": "\(dbPath)", "schedd.error": "\((error as? APIError)?.message ?? "\(error)")"])
                        }
                        try? await Task.sleep(for: .seconds(10))
                    }
                    return nil
                }
                var saved = await group.next() ?? nil
                group.cancelAll()
                // A copy that was written as the signal came counts.
                for await result in group where saved == nil { saved = result }
                return saved
            }
            if let saved {
                logger.critical("schedd saved the database it had open and stopped; start it again to go on",
                                metadata: ["schedd.db": "\(dbPath)", "schedd.saved": "\(saved)"])
                FileHandle.standardError.write(Data("schedd: the database \(dbPath) was \(place == .deleted ? "deleted" : "replaced") while schedd ran; what it held is saved to \(saved)\n".utf8))
            } else {
                logger.critical("schedd was stopped before it could save the database it had open; what it held since the file was moved is lost",
                                metadata: ["schedd.db": "\(dbPath)"])
                try? await BlockingWork.run { try database.close() }
            }
            throw ExitCode(1)
        }
        try await BlockingWork.run { try database.close() }
        logger.info("schedd stopped")
    }

    /// Why schedd does not start (or stops): in the log, and plainly on stderr for whoever ran
    /// it rather than as the argument parser's "Error: …"; the exit code to throw.
    func refusal(_ message: String, exitCode: Int32 = 1, _ logger: Logger, log: Logger.Message = "schedd cannot start") -> ExitCode {
        logger.critical(log, metadata: ["schedd.error": "\(message)"])
        FileHandle.standardError.write(Data("schedd: \(message)\n".utf8))
        return ExitCode(exitCode)
    }

    /// A node of a cluster on PostgreSQL (docs/cluster.md).
    func runClusterNode(_ text: String, socketPath: String, environment: [String: String], logger: Logger) async throws {
        let url: PostgresURL
        do {
            url = try PostgresURL(text)
        } catch {
            FileHandle.standardError.write(Data("schedd: \(postgres == nil ? "SCHEDD_POSTGRES" : "--postgres"): \(error.message)\n".utf8))
            throw ExitCode(2)
        }
        let access = try await accessPolicy(logger: logger)
        // A file others may write is refused before the node joins the cluster; one that is
        // only invalid is the start's to report (the cluster's jobs run on meanwhile).
        if let config, let problem = await BlockingWork.run({ FileTrust.problem(.jobFile, path: config, uid: geteuid()) }) {
            FileHandle.standardError.write(Data("schedd: \(problem)\n".utf8))
            throw ExitCode(2)
        }
        do {
            try await ControlServer.prepareSocket(socketPath, access: access)
        } catch {
            throw refusal(error.message, logger)
        }
        let nodeName = node ?? NodeName.host
        var options = PostgresStore.Options()
        options.lease = .milliseconds(DurationText.milliseconds(lease) ?? 10_000)
        options.callTimeout = min(.seconds(3), options.lease / 3)
        options.workers = workers ?? JobScheduler.Configuration().workers
        let workerCount = options.workers
        do {
            try await PostgresStore.withStore(url: url, node: nodeName, options: options, logger: logger) { store in
                logger.info("joined the cluster", metadata: ["schedd.node": "\(nodeName)", "schedd.epoch": .stringConvertible(store.epoch),
                                                          "schedd.postgres": "\(url.description)"])
                let clock = DatabaseClock()
                let zone = try await agreeOnTimeZone(store, logger: logger)
                try await serve(store: store, clock: clock, socketPath: socketPath, access: access, environment: environment,
                                timeZone: zone, logger: logger, nodes: { try await store.nodes() }) { engine in
                    [.init(service: NodeHeartbeat(store: store, clock: clock, engine: engine, workers: workerCount, logger: logger))]
                }
            }
        } catch let error as APIError {
            throw refusal(error.message, logger)
        }
        logger.info("schedd stopped")
    }

    /// The cluster's zone of schedules that name none (`PostgresStore.agreeOnTimeZone`).
    func agreeOnTimeZone(_ store: PostgresStore, logger: Logger) async throws -> String {
        let host = ZoneRules.current.identifier
        let agreed = try await store.agreeOnTimeZone(proposed: timezone ?? host, replacing: timezone != nil)
        if let replaced = agreed.replaced {
            logger.notice("this node set the cluster's time zone", metadata: ["schedd.from": "\(replaced)", "schedd.to": "\(agreed.zone)"])
        } else if timezone == nil && agreed.zone != host {
            logger.notice("schedules that name no zone are read in the cluster's zone, not this host's",
                          metadata: ["schedd.time_zone": "\(agreed.zone)", "schedd.host_time_zone": "\(host)"])
        }
        if ZoneRules.named(agreed.zone) == nil {
            // Set by a node with a newer zone database: this one reads them in its own zone.
            logger.error("the cluster's time zone is not a zone this node knows; it reads schedules that name none in its own",
                         metadata: ["schedd.time_zone": "\(agreed.zone)", "schedd.host_time_zone": "\(host)"])
        }
        return agreed.zone
    }

    /// An error about the job file, after its path unless it names it already.
    static func aboutJobFile(_ config: String, _ error: APIError) -> String {
        let text = "\(error)"
        return text.contains(config) ? text : "\(config): \(text)"
    }

    func validateOffline(_ config: String) async throws {
        do {
            try await BlockingWork.run { try JobFileLoader.validateOffline(path: config, handlers: []) }
        } catch let error as APIError {
            FileHandle.standardError.write(Data("schedd: \(Self.aboutJobFile(config, error))\n".utf8))
            throw ExitCode(2)
        }
    }

    /// Who may do what, with the groups named by the flags looked up (off the cooperative
    /// pool: the account database may be NSS over the network); a group that does not exist
    /// is a usage error.
    func accessPolicy(logger: Logger) async throws -> AccessPolicy {
        if socketGroup != nil {
            logger.warning("--socket-group is deprecated: it is now --admin-group, and its members are admins (root's equal on this daemon)")
        }
        // Limits of users where no user may connect: said, so that a forgotten --allow-users
        // is not taken for limits in force.
        let userLimits = [userMaxJobs.map { _ in "--user-max-jobs" }, userMaxRuns.map { _ in "--user-max-runs" }].compactMap { $0 }
        if allowUsers == nil && !userLimits.isEmpty {
            logger.warning("limits of users have no effect without --allow-users: only admins may use the socket",
                           metadata: ["schedd.options": "\(userLimits.joined(separator: " "))"])
        }
        let (allowUsers, admins) = (allowUsers, adminGroup ?? socketGroup)
        let (allowed, admin) = await AccountDatabase.off {
            (allowUsers.flatMap { $0 == "all" ? nil : AccountDatabase.groupID($0) }, admins.flatMap(AccountDatabase.groupID))
        }
        if let admins, admin == nil {
            throw ValidationError("--\(adminGroup != nil ? "admin-group" : "socket-group") \"\(admins)\": no such group")
        }
        let users: AccessPolicy.Users
        switch (allowUsers, allowed) {
        case (nil, _): users = .none
        case ("all"?, _): users = .all
        case let (_?, group?): users = .group(group)
        case let (name?, nil): throw ValidationError("--allow-users \"\(name)\": neither all nor a group on this system")
        }
        return AccessPolicy(adminGroup: admin, users: users, userMaxJobs: userMaxJobs ?? AccessPolicy.defaultUserMaxJobs)
    }

    /// Runs the daemon's services on `store` until shutdown; `more` adds the services a store
    /// needs beside the engine (they are shut down after it).
    func serve(store: any SchedulerStore, clock: any SchedulerClock, socketPath: String, access: AccessPolicy, environment: [String: String],
               timeZone: String?, logger: Logger, nodes: (@Sendable () async throws -> [NodeInfo])? = nil, more: (JobScheduler) -> [ServiceGroupConfiguration.ServiceConfiguration]) async throws {
        let notifier = SystemdNotifier(environment: environment)
        let jobFile = config.map { JobFileReloads(path: $0) }
        var engineConfiguration = JobScheduler.Configuration()
        // Runs get the limit schedd started with back.
        engineConfiguration.processFileLimit = OpenFileLimit.raiseToHard()
        if let workers { engineConfiguration.workers = workers }
        engineConfiguration.maxQueued = maxQueued
        engineConfiguration.lateTolerance = .milliseconds(DurationText.milliseconds(lateTolerance) ?? 60_000)
        if let node { engineConfiguration.node = node }
        engineConfiguration.userMaxRuns = userMaxRuns
        let metrics = DaemonMetrics()
        engineConfiguration.metrics = metrics.factory
        engineConfiguration.cgroupPerRun = processTracking == "auto"
        engineConfiguration.shutdownGrace = .milliseconds(DurationText.milliseconds(shutdownGrace) ?? 30_000)
        engineConfiguration.defaultTimeZone = timeZone
        let engine = JobScheduler(store: store, configuration: engineConfiguration, clock: clock, logger: logger)
        // Shutdown runs in reverse order, each service after the one behind it has ended:
        // retention and reloads stop first, then the engine drains (it drops queued runs, which
        // answers a `POST /run` still waiting for a worker), and the control socket goes last,
        // so that `schedctl status` answers during the drain and event streams send the ends of
        // the runs the drain stopped before they close. With the socket ahead of the
        // engine, a request waiting for a worker held the socket, and the engine never heard
        // of the shutdown.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = more(engine) + [
            .init(service: ControlServer(
                engine: engine, configuration: .init(socketPath: socketPath, access: access, jobFile: jobFile, nodes: nodes), logger: logger,
                metrics: metrics)),
            .init(service: DaemonService(engine: engine, notifier: notifier, jobFile: jobFile, logger: logger)),
        ]
        if let config, let jobFile {
            let loader = JobFileLoader(path: config, handlers: engine.handlerNames)
            do {
                let result = try await engine.apply(loader, prune: true)
                logger.info("applied job file", metadata: result.logMetadata.merging(["schedd.file": "\(config)"]) { a, _ in a })
            } catch let error as APIError {
                FileHandle.standardError.write(Data("schedd: \(Self.aboutJobFile(config, error))\n".utf8))
                // A first start with a bad file was refused before anything was made. Past it,
                // the database holds the jobs that ran until now: they run on, as after a
                // refused reload, and `status` says the file was refused until a reload applies
                // it; a restart (a reboot) that stopped every job and service for a typo would
                // do more harm than the typo. A file others may write is not read at all.
                guard JobFileReloads.isRefusal(error), error.code != .forbidden else { throw ExitCode(2) }
                jobFile.refused(error.description)
                logger.error("job file refused at start; the jobs run as the database holds them",
                             metadata: ["schedd.file": "\(config)", "schedd.error": "\(error.description)"])
            }
            services.append(.init(service: ConfigReloader(file: (loader, jobFile), engine: engine, notifier: notifier, logger: logger)))
        } else {
            services.append(.init(service: ConfigReloader(file: nil, engine: engine, notifier: notifier, logger: logger)))
        }
        if let metricsListen, let (host, port) = Self.hostAndPort(metricsListen) {
            services.append(.init(service: MetricsListener(host: host, port: port, metrics: metrics, engine: engine, logger: logger)))
        }
        let maxAge = historyMaxAge.flatMap(DurationText.milliseconds).map { Duration.milliseconds($0) }
        services.append(.init(service: HistoryRetention(engine: engine, keepPerJob: historyKeep, maxAge: maxAge,
                                                        clock: ContinuousClock(), logger: logger)))
        let jobCount = try await store.jobNames().count
        logger.info("schedd started", metadata: ["schedd.db": "\(store.location)", "schedd.jobs": .stringConvertible(jobCount), "schedd.socket": "\(socketPath)",
                                                 "schedd.workers": .stringConvertible(engineConfiguration.workers),
                                                 "schedd.node": "\(engineConfiguration.node)",
                                                 "schedd.pid": .stringConvertible(ProcessInfo.processInfo.processIdentifier),
                                                 // A job's "too many open files" starts here.
                                                 "schedd.open_files": "\(OpenFileLimit.current.map { String($0.soft) } ?? "unknown")",
                                                 "schedd.run_open_files": "\(engineConfiguration.processFileLimit ?? OpenFileLimit.current?.soft ?? 0)"])
        // Each running process holds about five descriptors (its output pipes, its pidfd, its
        // cgroup): past the limit, starts fail with "Too many open files".
        if let openFiles = OpenFileLimit.current?.soft, engineConfiguration.workers * 5 + 100 > openFiles {
            logger.warning("more workers than the limit on open files lets run at once: runs past it fail to start", metadata: [
                "schedd.workers": .stringConvertible(engineConfiguration.workers), "schedd.open_files": .stringConvertible(openFiles),
                "schedd.workers_within_limit": .stringConvertible(max(1, (openFiles - 100) / 5)),
            ])
        }
        if case .cgroup = engine.processTracking, case .shell = engine.cgroupEntry {
            logger.warning("runs enter their cgroups through /bin/sh, which is slower: schedd-cgroup-exec is not installed beside schedd",
                           metadata: ["schedd.program": "\(CommandLine.arguments[0])"])
        }
        var groupConfiguration = ServiceGroupConfiguration(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        // The backstop: a graceful shutdown that outlasts the grace period by 45 s (runs get the
        // grace, then each its kill_grace) is cancelled; every service ends on cancellation and
        // the engine still records its runs' ends — before the unit's TimeoutStopSec (90 s,
        // with the default 30 s grace) has systemd kill it.
        groupConfiguration.maximumGracefulShutdownDuration = engineConfiguration.shutdownGrace + .seconds(45)
        groupConfiguration.maximumCancellationDuration = .seconds(30)
        let group = ServiceGroup(configuration: groupConfiguration)
        try await group.run()
    }

    /// `127.0.0.1:9464`, `[::1]:9464`, `localhost:0` as a host and a port.
    static func hostAndPort(_ text: String) -> (String, Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : (host, port)
    }

}
