import CoreMetrics
import Foundation
import Logging
import SchedulerAPI
import ServiceLifecycle

/// The engine: owns job state, fires schedules, dispatches runs to a bounded pool, applies the
/// retry, overlap, threshold and restart policies, and records every run.
///
/// It never polls: it sleeps on its clock until the earliest due time and is woken early when
/// jobs change or a run ends. It is an actor and therefore reentrant: state is re-checked after
/// every `await`.
public actor JobScheduler: Service {
    public struct Configuration: Sendable {
        /// Runs of scheduled and triggered jobs at once; more wait in FIFO order. Services are
        /// not counted.
        public var workers: Int
        /// On shutdown, how long runs may go on before they are stopped.
        public var shutdownGrace: Duration
        /// The zone of schedules that name none. Default: the host's, followed when it changes
        /// (`timedatectl set-timezone`) with a clock that tells it (`SchedulerClock.localZone`).
        public var defaultTimeZone: String?
        /// A fire time noticed later than this (a clock jump, a busy machine, a daemon that was
        /// down) counts as missed, and `catch_up` decides.
        public var lateTolerance: Duration
        /// Runs that may wait for a worker at once; a trigger beyond it is recorded as
        /// `skipped` with the reason, so that a pool far too small for its load shows in the
        /// history instead of growing the daemon's memory without end.
        public var maxQueued: Int
        /// Whether each process run gets its own cgroup where the system allows it (its
        /// processes cannot escape it, and its CPU time is recorded); false tracks them through
        /// `/proc` only.
        public var cgroupPerRun: Bool
        /// How a process run enters its cgroup: by default `schedd-cgroup-exec` where it is
        /// installed beside the running program, else `/bin/sh` (slower).
        public var cgroupEntry: CgroupEntry = .besideExecutable()
        /// Runs of one user's jobs (`OWNER/NAME`) at once, running or waiting for a worker;
        /// past it a trigger is recorded as `skipped`, so that no user can take every worker.
        /// Nil: half the workers (at least 1). Services are not counted.
        public var userMaxRuns: Int?
        /// Where the engine's metrics go (docs/metrics.md); nil: nowhere.
        public var metrics: (any MetricsFactory)?
        /// This node's name, given to every run (`SCHEDD_NODE`, `JobContext.node`); by default
        /// the host name.
        public var node: String = NodeName.host
        /// A service another node runs (a shared store refused its start) is looked at again
        /// this often: asked for if that node is no longer up, or if which nodes are up is not
        /// known. (A node that goes is noticed by the heartbeat, which asks at once.) A retry, or a
        /// missed time of `catch_up: all`, refused while its job runs on another node is asked
        /// for again after this too, or sooner when the store says that run stopped
        /// (`runEndedElsewhere`).
        public var claimRetry: Duration = .seconds(5)
        /// Cluster mode: how often the engine looks for queued slots to claim without being
        /// told of them (a notification lost with a connection, a slot queued early by a node
        /// whose clock runs ahead).
        public var queuePoll: Duration = .seconds(1)
        /// The soft limit on open files (`RLIMIT_NOFILE`) each process run starts with, at most
        /// the hard limit; nil: the engine's process's own. `schedd` raises its own soft limit
        /// to the hard one (every control connection is a descriptor) and sets this to the
        /// limit it started with, so that jobs run with the limit they would have under
        /// systemd or cron.
        public var processFileLimit: UInt64?
        /// Whether a process's exit is seen through its pidfd; false takes the path of kernels
        /// without pidfds (before Linux 5.3), a look every 200 ms, so that tests can reach it.
        var watchesExitsByPidfd = true

        /// What `userMaxRuns` comes to.
        public var effectiveUserMaxRuns: Int { userMaxRuns ?? max(1, workers / 2) }

        public init(workers: Int = max(2, ProcessInfo.processInfo.activeProcessorCount),
                    shutdownGrace: Duration = .seconds(30), defaultTimeZone: String? = nil,
                    lateTolerance: Duration = .seconds(60), maxQueued: Int = 10_000, cgroupPerRun: Bool = true) {
            self.cgroupPerRun = cgroupPerRun
            self.workers = workers
            self.shutdownGrace = shutdownGrace
            self.defaultTimeZone = defaultTimeZone
            self.lateTolerance = lateTolerance
            self.maxQueued = max(1, maxQueued)
        }
    }

    /// What a trigger led to.
    public enum TriggerOutcome: Sendable, Equatable {
        case queued
        /// Refused by `concurrency: forbid`; the skipped run's record.
        case skipped(RunRecord)
    }

    /// The pool's load, for `schedctl status`.
    public struct Load: Sendable, Equatable {
        /// Workers running scheduled or triggered jobs.
        public var busy: Int
        public var workers: Int
        /// Runs waiting for a worker, and the first few of their jobs.
        public var queued: Int
        public var queuedJobs: [String]
        /// Runs (services aside) waiting for a job they are ordered after or a service they
        /// require, before they may take a worker.
        public var held: Int = 0
        /// Services running (they hold no worker).
        public var services: Int
        /// Jobs whose stored definition no longer validates, by name, with what is wrong: they
        /// do not run. (The job counts come from the database, which cannot tell.)
        public var invalidJobs: [String: String] = [:]
        /// Jobs that name a job they cannot use (removed, or no longer a service, by a change
        /// they were not part of).
        public var brokenReferences: [BrokenReference] = []
        /// Set while the store refuses writes (a full disk, say), or what it refused is kept in
        /// memory until it takes it; `GET /v1/status` sends it as it is.
        public var storeTrouble: StatusResponse.DatabaseProblem?
        /// The zone of schedules that name none.
        public var timeZone: String = ""
        /// Set while the engine shuts down.
        public var shuttingDown: StatusResponse.ShuttingDown?
    }

    struct ActiveRun {
        var record: RunRecord
        var control: RunControl
        var output: OutputSink
    }

    struct Timer {
        var due: Date
        var request: RunRequest
    }

    /// Where jobs and runs are kept; the engine is its only writer.
    let store: any SchedulerStore
    /// What the control API reads: jobs as stored, and history.
    package nonisolated var reader: any StoreReader { store }
    public nonisolated let events = EventBus()
    let clock: any SchedulerClock
    let logger: Logger
    let configuration: Configuration
    let sweeper: ProcessSweeper
    let commands: any JobExecutor
    let handlers: HandlerExecutor
    let random: @Sendable () -> Double
    /// The zone of schedules that name none; it follows the clock's local zone unless the
    /// configuration names one or `useDefaultZone` was called.
    var defaultZone: ZoneRules
    var followsLocalZone: Bool

    var jobs: [String: JobEntry] = [:]
    /// When each job is next due; kept with every change of a `nextDue`.
    var dueQueue = DueQueue()
    var pool: WorkerPool
    var timers: [Timer] = []
    /// Retries that came due while a run of their job was going on, held until it ends (under
    /// `concurrency: forbid` or `replace` two runs of a job never overlap, a retry included),
    /// or while their job was paused, held until it is resumed. Released by that run's end or
    /// the resume (`releaseRetries`).
    var retriesAfterRun: [Timer] = []
    /// Missed times of a `catch_up: all` job under `concurrency: forbid` or `replace`, oldest
    /// first, each started once the run before it has ended (`releaseCatchUps`): beside one
    /// another they were skipped (or cancelled) but the first.
    var catchUpsAfterRun: [String: [(trigger: RunTrigger, slot: Date)]] = [:]
    /// Jobs whose next missed time (of `catchUpsAfterRun`) was refused while a run of the job
    /// went on on another node, and when it is asked for again at the latest (`claimRetry`
    /// after): sooner if the store says a run of the job ended there (`runEndedElsewhere`).
    var catchUpsWaitingElsewhere: [String: Date] = [:]
    var active: [Int64: ActiveRun] = [:]
    /// Runs that have ended and wait for the next turn to write their ends, and how many ends
    /// are being written.
    var ending: [EndedRun] = []
    var endsBeingRecorded = 0
    /// Runs whose starts are being written, until each is started or refused (a service's
    /// start holds no worker, so the pool does not count it).
    var startsBeingRecorded = 0
    /// The same runs by job: out of the pool and not yet active, they are a run of their job
    /// going on all the same (`concurrency: forbid` refuses another beside them).
    var startingJobs: [String: Int] = [:]
    /// Numbers the runs as they leave the pool (`RunRequest.startNumber`).
    var nextStartNumber: UInt64 = 1
    /// Jobs whose starting runs were stopped before they were active — a newer one replaced
    /// them (`concurrency: replace`), or `schedctl cancel`: those numbered below the mark are
    /// cancelled as they begin.
    var stoppedWhileStarting: [String: StartingStop] = [:]

    struct StartingStop {
        /// The first start number the stop does not reach.
        var below: UInt64
        var reason: String
        var by: String?
    }
    var loaded = false
    /// Each job's pause as the store last held it: a change there that this engine did not
    /// make is another node's (`refreshFromStore`).
    var storedPauses: [String: StoredPause] = [:]
    /// Jobs left out by the last read of the store because their definitions are unreadable.
    var invalidJobs: [String: String] = [:]
    /// What `Load.brokenReferences` says, as of the last load of the jobs.
    var brokenReferences: [BrokenReference] = []

    struct StoredPause: Equatable {
        var paused: Bool
        var reason: String?
    }
    /// Whether `run()` was called, and whether its main loop has ended.
    var entered = false
    var ended = false
    /// The pool's `waitingVersion` the job list was last told of.
    var listedWaitingVersion: UInt64 = 0
    /// Whether the main loop is waiting, and who waits for it to be idle (`untilIdle()`).
    var parked = false
    var idleWaiters: [(wakeup: Wakeup, busyWorkersToo: Bool)] = []
    var stopping = false
    var shutdownDeadline: Date?
    var graceOverCancelled = false
    let wakeup = Wakeup()
    /// Signals `wakeup` at the main loop's next deadline.
    let alarm = WakeAlarm()
    /// The timeouts of the runs going on.
    let timeouts = RunTimeouts()
    let stopRequested = StopFlag()
    let hurryRequested = StopFlag()
    /// Cluster mode: set when slots may be waiting in the store's queue (another node queued
    /// some); taken by the next turn with a free worker.
    let queueNudged = NudgeFlag()
    /// When the queue is next looked at without a nudge, and whether the last claim filled
    /// every free worker (so that more may be waiting).
    var nextQueuePoll: Date?
    var queueBacklog = false
    /// Cluster mode: slots this node offers to the queue a moment after the node that offers
    /// them first (`offersFirst`), oldest first; each turn offers those that are due.
    var laterOffers: [(due: Date, slots: [QueuedSlot])] = []
    /// Cluster mode: slots outside the queue that this node asks for a moment after the
    /// job's first node (`asksLater`), oldest first, with the write of their fires.
    var laterStarts: [(due: Date, slots: [(job: String, trigger: RunTrigger, slot: Date)], fire: StoreWrite?)] = []
    /// Cluster mode: the nodes that are up, as this node last read them (nil: not known, or
    /// not a cluster). A slot of a job pinned to a node that is not up is recorded as missed.
    var nodesUp: Set<String>?
    /// Cluster mode: services another node runs, by the node that runs each (it refused this
    /// node's start). Asked for again only when that node is no longer up.
    var servicesHeldElsewhere: [String: String] = [:]
    /// Runs waiting for what they are ordered after or require.
    var held: [HeldRun] = []
    /// Runs that `concurrency: replace` took off the queue, to be recorded by `decide`'s
    /// caller (`recordReplaced`).
    var displaced: [RunRequest] = []
    /// Services to stop once what depends on them has stopped, with the reason each gets.
    var stopQueue: [String: ServiceStop] = [:]
    /// Jobs whose waiting for a worker has been logged, until one of their runs starts.
    var waitingLogged: Set<String> = []
    /// The newest failed run, for the daemon's one-line status.
    var lastFailure: String?
    /// What the store refused to write, kept to be written again.
    var unwritten = UnwrittenWrites()
    /// Tells a step of the wall clock from time passing, once per turn.
    var clockWatch = ClockStepWatch()
    /// How many steps of the wall clock the engine has seen: what tests wait for.
    var clockStepsSeen = 0
    /// Changes of the zone of schedules that name none, for tests.
    var zoneChangesSeen = 0
    var metrics: EngineMetrics

    /// Creates the engine on an open database. `handlers` are the in-process jobs that job
    /// definitions may name with `"handler"`. From then on the engine is the database's only
    /// writer: change jobs through it (`apply`, `pauseJob`, …), read history from the database.
    public init(database: SchedulerDatabase, handlers: [String: JobHandler] = [:], configuration: Configuration = Configuration(),
                clock: any SchedulerClock = SystemClock(), logger: Logger = Logger(label: "schedd"),
                commandExecutor: (any JobExecutor)? = nil, random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }) {
        self.init(store: database, handlers: handlers, configuration: configuration, clock: clock, logger: logger,
                  commandExecutor: commandExecutor, random: random)
    }

    /// Creates the engine on any store (the in-memory one of the tests, a shared database).
    package init(store: any SchedulerStore, handlers: [String: JobHandler] = [:], configuration: Configuration = Configuration(),
                 clock: any SchedulerClock = SystemClock(), logger: Logger = Logger(label: "schedd"),
                 commandExecutor: (any JobExecutor)? = nil, random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }) {
        self.store = store
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        self.random = random
        let sweeper = ProcessSweeper(instanceID: store.instanceID, logger: logger, useCgroups: configuration.cgroupPerRun,
                                     cgroupEntry: configuration.cgroupEntry)
        self.sweeper = sweeper
        self.commands = commandExecutor ?? CommandExecutor(sweeper: sweeper, watchesExitsByPidfd: configuration.watchesExitsByPidfd,
                                                                 fileLimit: configuration.processFileLimit)
        self.handlers = HandlerExecutor(handlers: handlers)
        self.pool = WorkerPool(capacity: configuration.workers, maxQueued: configuration.maxQueued)
        self.defaultZone = configuration.defaultTimeZone.flatMap(ZoneRules.named) ?? clock.localZone() ?? ZoneRules.current
        self.followsLocalZone = configuration.defaultTimeZone == nil
        self.metrics = EngineMetrics(factory: configuration.metrics)
    }

    /// How the processes of runs are found and stopped (`status` shows it).
    public nonisolated var processTracking: ProcessSweeper.Tracking { sweeper.tracking }
    /// How process runs enter their cgroups (with `processTracking` `.cgroup`).
    public nonisolated var cgroupEntry: CgroupEntry { sweeper.cgroupEntry }

    /// The handler names this engine knows, for validating job files.
    public nonisolated var handlerNames: Set<String> { Set(handlers.handlers.keys) }

    /// This daemon's node name (`--node`, else the host's).
    public nonisolated var nodeName: String { configuration.node }

    /// The node `spec` is pinned to when it never runs here: another node than this daemon's,
    /// and no node shares the store (one daemon on SQLite), so none runs it.
    public nonisolated func pinnedWhereNothingRuns(_ spec: JobSpec) -> String? {
        guard !store.sharedByNodes, let node = spec.node, node != configuration.node else { return nil }
        return node
    }

    // MARK: - Service

    /// Runs until graceful shutdown (or `shutdown()`): then stops firing, lets runs finish for
    /// `shutdownGrace`, stops the rest, and records every final status before returning.
    public func run() async throws {
        // One engine, one main loop: a second would fire every job twice.
        guard !entered else { throw APIError(.conflict, "this JobScheduler is already running: run() may be called once") }
        entered = true
        let stopRequested = self.stopRequested
        let wakeup = self.wakeup
        let sweeper = self.sweeper
        let alarm = self.alarm
        let clock = self.clock
        await withTaskGroup(of: Void.self) { outer in
            outer.addTask { await sweeper.run() }
            outer.addTask { await alarm.run(clock: clock, wakeup: wakeup) }
            let timeouts = self.timeouts
            outer.addTask { await timeouts.run(clock: clock) }
            await withGracefulShutdownHandler {
                await self.mainLoop()
            } onGracefulShutdown: {
                stopRequested.set()
                wakeup.signal()
            }
            // Every run has ended by now (the main loop waits for them).
            alarm.stop()
            timeouts.stop()
            await sweeper.stop()
        }
    }

    /// Starts a graceful shutdown from code (an embedding program without a ServiceGroup).
    public nonisolated func shutdown() {
        stopRequested.set()
        wakeup.signal()
    }

    /// Ends the grace period of a shutdown under way: active runs are stopped at once (a second
    /// SIGTERM).
    public nonisolated func hurryShutdown() {
        hurryRequested.set()
        wakeup.signal()
    }

    func mainLoop() async {
        await start()
        await withDiscardingTaskGroup { group in
            while true {
                if let step = clockWatch.step(clock) { await clockStepped(by: step) }
                if followsLocalZone, let zone = clock.localZone(), zone.identifier != defaultZone.identifier {
                    await defaultZoneChanged(to: zone, "the local time zone changed")
                }
                if (stopRequested.isSet || Task.isCancelled) && !stopping { await beginShutdown() }
                if stopping {
                    if pool.isIdle && active.isEmpty && !unwritten.writing { break }
                    // Cancelled (not a graceful shutdown): no grace period; stop everything now.
                    let graceOver = Task.isCancelled || hurryRequested.isSet || shutdownDeadline.map { clock.now() >= $0 } ?? false
                    if graceOver && !graceOverCancelled {
                        graceOverCancelled = true
                        for run in active.values { run.control.cancel("schedd stopped it at shutdown (grace period over)", atShutdown: true) }
                    }
                    stopInOrder()
                } else if let fires = await processDue() {
                    group.addTask {
                        do {
                            try await fires.write.wait()
                        } catch {
                            await self.statesNotWritten(fires.jobs, error)
                        }
                    }
                }
                if unwritten.isDue(at: clock.now()) {
                    let taken = unwritten.take()
                    group.addTask { await self.writeAgain(taken) }
                }
                var starting: [RunRequest] = []
                if !stopping {
                    stopInOrder()
                    await recordHeldSkips(releaseHeld())
                    starting = await claimQueued()
                }
                while var request = pool.nextToStart() {
                    // The job's definition as it is now: a reload while the run waited for a
                    // worker. (Not across a change of kind: the pool counts services apart.)
                    if let entry = jobs[request.spec.name], entry.sharedSpec !== request.sharedSpec,
                       entry.spec.isService == request.spec.isService {
                        request = request.withSpec(entry.sharedSpec)
                    }
                    starting.append(request)
                }
                if !starting.isEmpty || !ending.isEmpty {
                    let batch = resettingFailures(ending.map(decidingRetry)).map(markingFinalResult)
                    ending = []
                    endsBeingRecorded += batch.count
                    startsBeingRecorded += starting.count
                    for index in starting.indices {
                        starting[index].startNumber = nextStartNumber
                        nextStartNumber += 1
                        startingJobs[starting[index].spec.name, default: 0] += 1
                    }
                    group.addTask { await self.recordTurn(starting, batch) }
                }
                if pool.waitingVersion != listedWaitingVersion {
                    // The job list shows each job's waiting runs: it is computed again.
                    listedWaitingVersion = pool.waitingVersion
                    store.changes.bump()
                }
                if Task.isCancelled {
                    // Every cancellable wait returns at once now: wait for the cancelled runs to
                    // wind down (each signals when it ends).
                    if !pool.isIdle || !active.isEmpty { await wakeup.waitIgnoringCancellation() }
                } else {
                    parked = true
                    releaseIdleWaiters()
                    alarm.set(stopping ? (graceOverCancelled ? nil : shutdownDeadline) : nextDeadline())
                    await waitForWake()
                    parked = false
                }
            }
        }
        // A last try for what the store refused: after it, only the log has it.
        if !unwritten.isEmpty { await writeAgain(unwritten.take(), last: true) }
        // Nobody waits for an idle engine that has stopped.
        ended = true
        idleWaiters.forEach { $0.wakeup.signal() }
        idleWaiters = []
        logger.info("engine stopped")
    }

    /// Whether nothing more happens until the clock moves or something from outside arrives:
    /// the main loop waits, nothing is due at the clock's time, no signal is pending, and no
    /// run (services aside) is going on or waiting for a worker. With `busyWorkersToo`, runs
    /// going on are allowed: nothing more happens until one of them ends either.
    func isIdleNow(busyWorkersToo: Bool = false) -> Bool {
        guard parked, !stopping, busyWorkersToo || pool.busy == 0, pool.queuedCount == 0, ending.isEmpty, endsBeingRecorded == 0,
              startsBeingRecorded == 0, !unwritten.writing, !wakeup.isPending else { return false }
        return nextDeadline().map { $0 > clock.now() } ?? true
    }

    /// Returns once the engine is idle (`isIdleNow`): the barrier after which a test may say
    /// that nothing happened, instead of sleeping for a while and hoping. Runs' rows are
    /// written by then; events may still be on their way to subscribers. Cancelling the
    /// calling task ends the wait too (a test's time limit, say).
    public func untilIdle() async {
        await untilIdle(busyWorkersToo: false)
    }

    /// As `untilIdle()`, but runs may be going on: the barrier for a test whose run holds its
    /// worker while the test checks that nothing else started.
    package func untilIdle(busyWorkersToo: Bool) async {
        // Not running (never started, or stopped): nothing will happen, and nobody would
        // release the wait.
        if isIdleNow(busyWorkersToo: busyWorkersToo) || !entered || ended { return }
        let release = Wakeup()
        idleWaiters.append((release, busyWorkersToo))
        await release.wait()
    }

    func releaseIdleWaiters() {
        guard !idleWaiters.isEmpty else { return }
        let strict = isIdleNow()
        let loose = strict || isIdleNow(busyWorkersToo: true)
        guard loose else { return }
        let released = idleWaiters.filter { strict || $0.busyWorkersToo }
        idleWaiters.removeAll { strict || $0.busyWorkersToo }
        released.forEach { $0.wakeup.signal() }
    }

    func beginShutdown() async {
        stopping = true
        let dropped = pool.removeQueued(reason: "schedd is shutting down")
        // Runs that were to start have rows saying they did not: a slot that fired is never
        // gone without a trace. (Services start again with schedd; a retry keeps its mark and
        // is taken up at the next start; a claimed slot has its row already.)
        let now = clock.now()
        func skip(_ request: RunRequest, _ reason: String) -> RunSkip? { unstartedRow(request, reason, at: now) }
        var skips = dropped.compactMap { skip($0, "skipped: schedd shut down before a worker was free for it") }
        skips += held.compactMap { waiting in
            skip(waiting.request, "skipped: schedd shut down while it waited (\(blocker(for: waiting.request.spec)?.text ?? "for what it runs after"))")
        }
        // Their slots fired: each has a row saying why it did not run.
        for (job, waiting) in catchUpsAfterRun.sorted(by: { $0.key < $1.key }) {
            for (trigger, slot) in waiting {
                skips.append(RunSkip(job: job, trigger: trigger, scheduledAt: slot, at: now,
                                     reason: "skipped: schedd shut down before its turn (catch_up: all, one after another)"))
            }
        }
        catchUpsAfterRun.removeAll()
        catchUpsWaitingElsewhere.removeAll()
        timers.removeAll()
        // Their marks stay with their runs: the next start takes them up.
        retriesAfterRun.removeAll()
        laterStarts.removeAll()
        shutdownDeadline = clock.now().addingTimeInterval(Double(configuration.shutdownGrace.milliseconds) / 1000)
        for waiting in held { waiting.request.startSignal?.drop("schedd is shutting down") }
        held.removeAll()
        // Services never end by themselves: they are stopped now, each once what is ordered
        // after it or requires it has stopped (`stopInOrder`), the last first.
        for run in active.values where jobs[run.record.job]?.spec.isService ?? false {
            stopQueue[run.record.job] = ServiceStop("schedd is shutting down")
        }
        logger.info("shutting down: no more runs start", metadata: [
            "schedd.active": .stringConvertible(active.count), "schedd.dropped_queued": .stringConvertible(dropped.count),
        ])
        _ = await record(skips)
    }

    /// Waits until something wakes the engine: a signal, or the alarm at the deadline it was
    /// set to.
    func waitForWake() async {
        if wakeup.takePending() { return }
        await wakeup.wait()
    }

    func nextDeadline() -> Date? {
        let fire = dueQueue.earliest(isCurrent: isDue)
        // The queue's poll only while a worker is free to take what it finds: a poll time past
        // with every worker busy would wake the loop over and over (a run's end wakes it).
        let poll = pool.free > 0 && !stopping ? nextQueuePoll : nil
        let timer = [timers.lazy.map(\.due).min(), held.lazy.compactMap(\.deadline).min(), poll, laterOffers.first?.due,
                     laterStarts.first?.due, unwritten.deadline, catchUpsWaitingElsewhere.values.min()].compactMap { $0 }.min()
        switch (fire, timer) {
        case let (fire?, timer?): return min(fire, timer)
        case let (fire, timer): return fire ?? timer
        }
    }

    /// The wall clock was stepped by `step` seconds (negative: set back). What is kept as "so
    /// long from now" (retries' and restarts' delays, waits for what a run requires, the
    /// windows of `restart_limit`, the next write of what the store refused) moves with it, so
    /// that it keeps its real distance; run timeouts do the same (`RunTimeouts`). Interval
    /// schedules (`@every`) are about time passing: set back, they go on from where they are
    /// instead of waiting for the wall clock to come back to their next slot (an hour without
    /// a run of `@every 30s` after the clock was set back an hour); set forward, they miss
    /// slots as any schedule does (`catch_up`). Cron schedules are about the wall clock: set
    /// back, a slot already run is not run again, as cron does.
    func clockStepped(by step: TimeInterval) async {
        logger.notice("the wall clock was stepped", metadata: ["schedd.step_seconds": "\(Int(step.rounded()))"])
        clockStepsSeen += 1
        timers = timers.map { Timer(due: $0.due.addingTimeInterval(step), request: $0.request) }
        for index in held.indices { held[index].deadline = held[index].deadline?.addingTimeInterval(step) }
        laterOffers = laterOffers.map { (due: $0.due.addingTimeInterval(step), slots: $0.slots) }
        laterStarts = laterStarts.map { (due: $0.due.addingTimeInterval(step), slots: $0.slots, fire: $0.fire) }
        nextQueuePoll = nextQueuePoll?.addingTimeInterval(step)
        unwritten.shift(by: step)
        var rescheduled: [String] = []
        for (name, var entry) in jobs {
            entry.serviceStarts = entry.serviceStarts.map { $0.addingTimeInterval(step) }
            if step < 0, case .every = entry.schedule, let next = entry.nextSlot {
                scheduleNext(&entry, after: next.addingTimeInterval(step - 0.001))
                if let due = entry.nextDue { dueQueue.push(due, job: name) }
                rescheduled.append(name)
            }
            jobs[name] = entry
        }
        if !rescheduled.isEmpty { await saveStates(rescheduled.sorted()) }
    }

    /// From now on, schedules that name no zone are read in `identifier` (a cluster's zone,
    /// kept in its database), and the host's zone is no longer followed. An unknown name
    /// changes nothing and is logged.
    package func useDefaultZone(_ identifier: String) async {
        followsLocalZone = false
        guard let zone = ZoneRules.named(identifier) else {
            logger.error("the time zone of schedules that name none is not a zone this node knows; it keeps its own",
                         metadata: ["schedd.time_zone": "\(identifier)", "schedd.kept": "\(defaultZone.identifier)"])
            return
        }
        if zone.identifier != defaultZone.identifier {
            await defaultZoneChanged(to: zone, "the time zone of schedules that name none changed")
            wakeup.signal()
        }
    }

    /// The zone of schedules that name none changed (the host's, or the cluster's): they are
    /// read in the new one from now on. A cron job's next slot becomes the new zone's first
    /// after now (or after its last fire): the slots in between were not missed, the daemon
    /// ran, in another zone, so nothing catches up; and a time of day already run in the old
    /// zone runs again when the new zone reaches it, as cron and systemd timers do. A slot
    /// already due is left to fire.
    func defaultZoneChanged(to zone: ZoneRules, _ message: Logger.Message) async {
        logger.notice(message, metadata: [
            "schedd.from": "\(defaultZone.identifier)", "schedd.to": "\(zone.identifier)",
        ])
        zoneChangesSeen += 1
        defaultZone = zone
        let now = clock.now()
        var rescheduled: [String] = []
        for (name, var entry) in jobs where entry.readsDefaultZone {
            entry.zone = zone
            if case .cron = entry.schedule, let next = entry.nextSlot, next > now {
                scheduleNext(&entry, after: max(now, entry.state.lastFireAt ?? now))
                if let due = entry.nextDue { dueQueue.push(due, job: name) }
                rescheduled.append(name)
            }
            jobs[name] = entry
        }
        if !rescheduled.isEmpty { await saveStates(rescheduled.sorted()) }
    }

    /// Whether `job` is still due at `due` (an entry of `dueQueue` may be older).
    func isDue(_ job: String, _ due: Date) -> Bool { jobs[job]?.nextDue == due }

    // MARK: - Start and reload

    func start() async {
        let now = clock.now()
        var leftovers: [RunRecord] = []
        do {
            leftovers = try await store.interruptLeftovers(at: now)
            for run in leftovers {
                logger.warning("run was active when schedd stopped; marked interrupted",
                               metadata: ["schedd.job": "\(run.job)", "schedd.run_id": .stringConvertible(run.id)])
                await sweeper.sweepInBackground(job: run.job, runID: run.id, grace: .seconds(10))
            }
        } catch {
            logger.error("cannot mark leftover runs interrupted", metadata: ["schedd.error": "\(error)"])
        }
        await reloadJobs()
        await resumePendingRetries()
        await applyPendingPolicies()
        // An interrupted run is a failed attempt: retried, or counted and followed by
        // `on_failure`, by its job's policy, as if it had failed now. (Services and `@reboot`
        // jobs start anyway.)
        for run in leftovers.reversed() where run.trigger != .boot {
            guard let entry = jobs[run.job], !entry.spec.isService else { continue }
            var interrupted = run
            interrupted.status = .interrupted
            interrupted.finishedAt = now
            interrupted.error = "schedd stopped while the run was active"
            await afterRun(await request(resuming: run, entry, trigger: run.trigger, attempt: run.attempt), interrupted)
        }
        // Only the names are sorted: sorting 10,000 (name, entry) pairs copies every entry.
        let bootJobs = inStartOrder(jobs.filter { $0.value.canStart && ($0.value.spec.isService || $0.value.schedule == .reboot) }.keys)
        for name in bootJobs {
            _ = await trigger(name, .boot, scheduledAt: nil, force: true)
        }
        loaded = true
    }

    /// Takes up the retries that were waiting for their time when schedd stopped (marked with
    /// their runs): each is due when it was. The marks of jobs gone, or that retry no more,
    /// are cleared. Cluster mode: also once a node declared dead has registered again (the
    /// retries still its own, those of jobs pinned to it).
    package func resumePendingRetries() async {
        let pending: [(run: RunRecord, due: Date)]
        do {
            pending = try await store.pendingRetries()
        } catch {
            // Cancelled as it starts (another service failed): not a database problem.
            if !Task.isCancelled {
                logger.error("cannot read the retries that were waiting; they do not run", metadata: ["schedd.error": "\(error)"])
            }
            return
        }
        await takeUp(pending)
    }

    /// A run to start again from the row of an earlier attempt (a retry marked before a
    /// restart, an attempt interrupted or lost): who asked for it and what triggered it carry
    /// over, a dependency run's `SCHEDD_TRIGGERED_BY_*` read again from the row of the run
    /// that triggered it (only the id when that row has been pruned).
    func request(resuming run: RunRecord, _ entry: JobEntry, trigger: RunTrigger, attempt: Int) async -> RunRequest {
        var request = RunRequest(spec: entry.sharedSpec, trigger: trigger, attempt: attempt, scheduledAt: run.scheduledAt, extraEnvironment: [:])
        request.triggeredBy = run.triggeredBy
        guard let first = run.triggeredByRun else { return request }
        request.triggeredByRun = first
        request.extraEnvironment["SCHEDD_TRIGGERED_BY_RUN"] = String(first)
        // Back along the runs that triggered one another, for the chain that stops a cycle.
        // Validation refuses cycles; the bound stops one stored anyway.
        var chain: [String] = []
        var next: Int64? = first
        while let id = next, chain.count < 64 {
            let cause: RunRecord?
            do {
                cause = try await store.run(id: id)
            } catch {
                logger.warning("cannot read the run that triggered a run taken up again", metadata: [
                    "schedd.job": "\(run.job)", "schedd.run_id": .stringConvertible(id), "schedd.error": "\(error)",
                ])
                break
            }
            guard let cause else { break }
            if id == first {
                request.extraEnvironment["SCHEDD_TRIGGERED_BY_JOB"] = cause.job
                request.extraEnvironment["SCHEDD_TRIGGERED_BY_STATUS"] = cause.status.rawValue
            }
            chain.insert(cause.job, at: 0)
            next = cause.triggeredByRun
        }
        request.triggerChain = chain
        return request
    }

    /// Timers for retries marked in the store, each due when it was. The marks of jobs gone,
    /// pinned to another node, or that retry no more, are cleared.
    func takeUp(_ pending: [(run: RunRecord, due: Date)]) async {
        var dropped: [(runID: Int64, due: Date?)] = []
        for (run, due) in pending {
            guard let entry = jobs[run.job], !entry.spec.isService, run.attempt <= entry.spec.effectiveRetries,
                  entry.spec.node.map({ $0 == configuration.node }) ?? true else {
                dropped.append((run.id, nil))
                continue
            }
            var retry = await request(resuming: run, entry, trigger: .retry, attempt: run.attempt + 1)
            retry.retryOf = run.id
            timers.append(Timer(due: due, request: retry))
            logger.notice("a retry that was waiting for its time is taken up", metadata: [
                "schedd.job": "\(run.job)", "schedd.run_id": .stringConvertible(run.id),
                "schedd.attempt": .stringConvertible(run.attempt + 1), "schedd.due": "\(Timestamp.format(due))",
            ])
        }
        if !dropped.isEmpty { await setRetries(dropped) }
    }

    /// Re-reads the jobs from the store after a change of definitions. New services start;
    /// changed schedules are recomputed; removed jobs stop firing (their active runs go on,
    /// but a service's, which is stopped).
    /// Reads the jobs again after another node changed them (cluster mode): definitions, and
    /// pauses and resumptions made elsewhere. The rest of a job's state stays this node's own,
    /// and nothing is written back.
    package func refreshFromStore() async {
        guard entered && !ended else { return }
        await reloadJobs(adoptingOthersPauses: true)
    }

    func reloadJobs(adoptingOthersPauses: Bool = false) async {
        let stored: [JobInfo]
        do {
            stored = try await store.jobs()
        } catch {
            if !Task.isCancelled { logger.error("cannot read jobs", metadata: ["schedd.error": "\(error)"]) }
            return
        }
        let now = clock.now()
        var fresh: [String: JobEntry] = [:]
        fresh.reserveCapacity(stored.count)
        var resumedElsewhere: [String] = []
        var invalid: [String: String] = [:]
        for info in stored {
            if let problem = info.problem {
                if invalidJobs[info.name] != problem {
                    logger.error("the stored definition of a job cannot be read; it does not run", metadata: [
                        "schedd.job": "\(info.name)", "schedd.error": "\(problem)",
                    ])
                }
                invalid[info.name] = problem
                continue
            }
            var entry = JobEntry(sharedSpec: info.sharedSpec, state: info.state, defaultZone: defaultZone)
            if let old = jobs[info.name] {
                // The engine is the one writer of a job's state, and its memory is ahead of the
                // database while a write is on its way: a reload takes only the definition.
                // (Taking the state too undid a pause whose write had not landed, and the next
                // fire wrote `paused = 0` back.)
                entry.state = old.state
                let storedPause = StoredPause(paused: info.state.paused, reason: info.state.pauseReason)
                if adoptingOthersPauses, let seen = storedPauses[info.name], seen != storedPause,
                   StoredPause(paused: old.state.paused, reason: old.state.pauseReason) != storedPause {
                    entry.state.paused = storedPause.paused
                    entry.state.pauseReason = storedPause.reason
                    if !storedPause.paused { entry.state.consecutiveFailures = 0 }
                    logger.info("a job was paused or resumed on another node", metadata: [
                        "schedd.job": "\(info.name)", "schedd.paused": "\(storedPause.paused)",
                    ])
                    events.publish(storedPause.paused ? .jobPaused(job: info.name, reason: storedPause.reason ?? "manual") : .jobResumed(job: info.name))
                }
                entry.serviceStarts = old.serviceStarts
                entry.restartStreak = old.restartStreak
                entry.readyRunID = old.readyRunID
                entry.stoppedByHand = old.stoppedByHand
                entry.downBecause = old.downBecause
                entry.restartRequested = old.restartRequested
                if adoptingOthersPauses, old.state.paused, !entry.state.paused {
                    // As a resume here does: a fresh restart count, and a service started again
                    // (by whichever node holds it, this one if it did).
                    entry.serviceStarts = []
                    entry.restartStreak = 0
                    entry.stoppedByHand = false
                    if entry.spec.isService { resumedElsewhere.append(info.name) }
                }
                if old.spec.schedule == info.spec.schedule && old.spec.timezone == info.spec.timezone && old.spec.jitter == info.spec.jitter {
                    entry.nextSlot = old.nextSlot
                    entry.nextDue = old.nextDue
                } else {
                    scheduleNext(&entry, after: now)
                }
            } else if let schedule = entry.schedule, schedule != .reboot {
                // From the last fire the database knows, so that slots missed while the daemon
                // was down are found (and `catch_up` decides); a job that never fired, from
                // the slot it was waiting for (a monthly job created on the 15th, the machine
                // down over the 1st: that 1st is missed too); a new job starts from now.
                scheduleNext(&entry, after: info.state.lastFireAt ?? Self.firstSlotAwaited(info).map { min($0, now) } ?? now)
            }
            fresh[info.name] = entry
        }
        let removed = Set(jobs.keys).subtracting(fresh.keys)
        var withdrawn: [RunSkip] = []
        for name in removed.sorted() {
            withdrawn += withdrawUnstarted(of: name, because: "the job was removed", removed: true)
            servicesHeldElsewhere[name] = nil
        }
        let newServices = loaded ? fresh.filter { jobs[$0.key] == nil && $0.value.spec.isService && $0.value.canStart }.map(\.key) : []
        let before = jobs
        jobs = fresh
        // Resumed on another node or enabled again: the retries held here meanwhile are due.
        var startableAgain: [String] = []
        for (name, entry) in fresh.sorted(by: { $0.key < $1.key }) {
            guard let old = before[name], old.canStart != entry.canStart else { continue }
            if entry.canStart {
                startableAgain.append(name)
            } else {
                withdrawn += withdrawUnstarted(of: name, because: entry.spec.isEnabled ? "the job was paused on another node" : "the job was disabled")
            }
        }
        invalidJobs = invalid
        // A change outside these jobs (a reload or prune) may have removed a job they name, or
        // made a service they require a plain job.
        let broken = fresh.keys.sorted().flatMap { name in
            BrokenReference.of(fresh[name]!.spec, exists: { fresh[$0] != nil || invalid[$0] != nil }, isService: { fresh[$0]?.spec.isService })
        }
        for reference in broken where !brokenReferences.contains(reference) {
            logger.warning("a job names a job it cannot use", metadata: ["schedd.job": "\(reference.job)", "schedd.problem": "\(reference.message)"])
        }
        brokenReferences = broken
        metrics.keep(only: fresh.keys)
        dueQueue.rebuild(fresh.compactMap { name, entry in entry.nextDue.map { (due: $0, job: name) } })
        for name in inStartOrder(newServices) {
            _ = await trigger(name, .boot, scheduledAt: nil, force: true)
        }
        for name in resumedElsewhere.sorted() where jobs[name]?.canStart == true && !isUnderway(name) {
            _ = await trigger(name, .manual, scheduledAt: nil, force: true)
        }
        for name in startableAgain where !active.values.contains(where: { $0.record.job == name }) { releaseRetries(of: name) }
        await record(withdrawn)
        if loaded { await servicesRedefined(from: before) }
        storedPauses = Dictionary(stored.map { ($0.name, StoredPause(paused: $0.state.paused, reason: $0.state.pauseReason)) },
                                  uniquingKeysWith: { first, _ in first })
        if !adoptingOthersPauses {
            // Only what differs from the database: a start with 10,000 unchanged jobs writes nothing.
            let storedStates = Dictionary(stored.map { ($0.name, $0.state) }, uniquingKeysWith: { first, _ in first })
            await saveStates(fresh.filter { storedStates[$0.key] != $0.value.state }.keys.sorted())
        }
        wakeup.signal()
    }

    /// Just before the slot a job that never fired was waiting for: its stored next run, less
    /// the most jitter may have added, and not before its definition last changed (its slot
    /// was worked out after that).
    static func firstSlotAwaited(_ info: JobInfo) -> Date? {
        guard let due = info.state.nextRunAt else { return nil }
        let jitter = info.spec.jitter.map { Double($0.milliseconds) / 1000 } ?? 0
        return max(info.updatedAt, due.addingTimeInterval(-jitter)).addingTimeInterval(-0.001)
    }

    func scheduleNext(_ entry: inout JobEntry, after date: Date) {
        entry.nextSlot = entry.slot(after: date)
        entry.nextDue = entry.nextSlot.map { slot in
            guard let jitter = entry.spec.jitter, jitter > .zero else { return slot }
            return slot.addingTimeInterval(Double(jitter.milliseconds) / 1000 * random())
        }
        entry.state.nextRunAt = entry.nextDue
    }

    /// The states of the named jobs, to be written.
    func states(of names: [String]) -> [(name: String, state: JobState)] {
        names.compactMap { name in jobs[name].map { (name: name, state: $0.state) } }
    }

    func saveStates(_ names: [String]) async {
        let states = states(of: names)
        do {
            try await store.saveStates(states)
        } catch {
            statesNotWritten(names, error)
        }
    }

    /// Jobs' states the store refused: kept to be written again (their current state, then).
    func statesNotWritten(_ names: [String], _ error: any Error) {
        logger.error("cannot save job state; kept to be written again", metadata: [
            "schedd.jobs": .stringConvertible(names.count), "schedd.job": "\(names.first ?? "")", "schedd.error": "\(error)",
        ])
        lost(unwritten.failed(error, jobs: names, at: clock.now()))
        // What the API shows of these jobs is the engine's state now (`withUnwrittenStates`).
        store.changes.bump()
        wakeup.signal()
    }

    /// Writes again what the store refused before (`taken` from `unwritten`). With `last`, the
    /// engine stops after it: what is still refused is lost, and said so.
    func writeAgain(_ taken: UnwrittenWrites.Taken, last: Bool = false) async {
        var failure: (any Error)?
        // What is still to write: each part leaves it once written, so that a failure keeps
        // only what the store has not taken.
        var left = taken
        if taken.skipsDropped > 0 {
            logger.critical("skipped runs are lost: more were refused than schedd keeps", metadata: [
                "schedd.skipped": .stringConvertible(taken.skipsDropped),
            ])
            left.skipsDropped = 0
        }
        do {
            if !taken.jobs.isEmpty {
                try await store.saveStates(states(of: taken.jobs.sorted()))
                left.jobs = []
            }
            if !taken.ends.isEmpty {
                let written = try await store.finishRuns(taken.ends)
                left.ends = []
                for (end, record) in zip(taken.ends, written) {
                    logger.notice(record == nil ? "the run's row was no longer running when its end was written again" : "recorded the end of a run late",
                                  metadata: ["schedd.job": "\(end.run.job)", "schedd.run_id": .stringConvertible(end.run.id),
                                             "schedd.status": "\(end.outcome.status.rawValue)"])
                }
            }
            if !taken.skips.isEmpty {
                reportFinal(try await store.recordSkipped(taken.skips))
                left.skips = []
            }
        } catch {
            failure = error
        }
        lost(unwritten.finished(left, error: failure, at: clock.now()))
        if let failure, !last {
            logger.error("cannot write what the database refused before; kept to be written again", metadata: [
                "schedd.run_ends": .stringConvertible(unwritten.ends.count), "schedd.jobs": .stringConvertible(unwritten.jobs.count),
                "schedd.error": "\(failure)",
            ])
        } else if failure == nil {
            logger.notice("the database takes writes again")
        }
        if last {
            lost(unwritten.ends)
            if !unwritten.skips.isEmpty {
                logger.critical("skipped runs are lost: schedd stops before the database took them", metadata: [
                    "schedd.skipped": .stringConvertible(unwritten.skips.count),
                ])
            }
            if !unwritten.jobs.isEmpty {
                logger.critical("jobs' states are lost: schedd stops before the database took them", metadata: [
                    "schedd.jobs": "\(unwritten.jobs.sorted().joined(separator: ","))",
                ])
            }
        }
        wakeup.signal()
    }

    /// Ends of runs given up: only the log keeps them.
    func lost(_ ends: [(run: RunRecord, outcome: RunOutcome)]) {
        for end in ends {
            logger.critical("the end of a run is lost: the database did not take it", metadata: [
                "schedd.job": "\(end.run.job)", "schedd.run_id": .stringConvertible(end.run.id),
                "schedd.status": "\(end.outcome.status.rawValue)", "schedd.exit_code": "\(end.outcome.exitCode.map(String.init) ?? "-")",
            ])
        }
    }
}

