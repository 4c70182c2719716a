import Foundation
import Logging
import SchedulerAPI

extension JobScheduler {
    // MARK: - Firing

    /// Fires every schedule and timer that is due. Returns the write of the fires, queued
    /// ahead of their runs' start rows, for the caller to see through, and the jobs it is of.
    func processDue() async -> (write: StoreWrite, jobs: [String])? {
        let now = clock.now()
        var triggers: [(String, RunTrigger, Date?)] = []
        var changed: [String] = []
        for name in dueQueue.popDue(now: now, isCurrent: isDue).sorted() {
            guard var entry = jobs[name], let due = entry.nextDue, due <= now else { continue }
            let (slots, total) = entry.dueSlots(now: now)
            let tolerance = Double(configuration.lateTolerance.milliseconds) / 1000
            if let latest = slots.last {
                var missed = slots
                var onTime: Date?
                // Jitter delays a fire on purpose; only lateness beyond it counts.
                let jitter = Double(entry.spec.jitter?.milliseconds ?? 0) / 1000
                if now.timeIntervalSince(latest) <= tolerance + jitter {
                    onTime = missed.removeLast()
                }
                let missedTotal = total - (onTime == nil ? 0 : 1)
                if entry.canStart {
                    let triggersBefore = triggers.count
                    if missedTotal > 0 {
                        switch entry.spec.effectiveCatchUp {
                        case .none:
                            logger.notice("fire times missed; catch_up is none", metadata: [
                                "schedd.job": "\(name)", "schedd.missed": .stringConvertible(missedTotal),
                            ])
                            metrics.firesMissed(name, missedTotal)
                        case .once where onTime != nil:
                            // A slot due now anyway is the one run for the missed times (as
                            // systemd's Persistent= runs a timer once): a catch-up beside it
                            // ran an older slot and left the one on time skipped.
                            logger.notice("fire times missed; the run on time stands for them (catch_up: once)", metadata: [
                                "schedd.job": "\(name)", "schedd.missed": .stringConvertible(missedTotal),
                            ])
                            metrics.firesMissed(name, missedTotal)
                        case .once:
                            if let last = missed.last { triggers.append((name, .catchUp, last)) }
                            metrics.firesMissed(name, missedTotal - 1)
                        case .all:
                            for slot in missed { triggers.append((name, .catchUp, slot)) }
                        }
                    }
                    if let onTime { triggers.append((name, .schedule, onTime)) }
                    // `catch_up: all` runs each missed time: under forbid or replace, one after
                    // another (beside one another, all but the first were skipped or cancelled).
                    // The cluster's queue does that for the slots it takes.
                    if chainsCatchUps(entry.spec), !queues(entry, .catchUp), triggers.count - triggersBefore > 1 {
                        catchUpsAfterRun[name, default: []] += triggers[(triggersBefore + 1)...].map { (trigger: $0.1, slot: $0.2 ?? now) }
                        triggers.removeSubrange((triggersBefore + 1)...)
                    }
                }
                entry.state.lastFireAt = latest
            }
            scheduleNext(&entry, after: max(slots.last ?? now, entry.nextSlot ?? now))
            if let next = entry.nextSlot, next <= now { scheduleNext(&entry, after: now) }
            jobs[name] = entry
            if let next = entry.nextDue { dueQueue.push(next, job: name) }
            changed.append(name)
        }
        // Timers: retries and restarts.
        let dueTimers = timers.filter { $0.due <= now }
        timers.removeAll { $0.due <= now }
        // The fire is recorded before its run starts, so that a crash never fires a slot twice:
        // queued in the group commit ahead of the runs' start rows, it is committed with them or
        // before. (Waiting for it here put a commit in front of every start: 3 ms of a 6 ms p50.)
        let fires = store.recordFires(states(of: changed))
        var skips: [RunSkip] = []
        var queued: [QueuedSlot] = []
        var later: [(job: String, trigger: RunTrigger, slot: Date)] = []
        // `catch_up: all` under forbid or replace through the cluster's queue: the job's slots
        // of this turn (its missed times, and the one on time) run one after another, whichever
        // nodes claim them; only the first replaces the job's earlier runs.
        var slotsThisTurn: [String: Int] = [:]
        if store.queuesSlots {
            for (name, _, slot) in triggers where slot != nil { slotsThisTurn[name, default: 0] += 1 }
        }
        var replacing: Set<String> = []
        for (name, trigger, slot) in triggers {
            if let slot, let entry = jobs[name], queues(entry, trigger) {
                let concurrency = entry.spec.effectiveConcurrency
                if entry.spec.effectiveCatchUp == .all, concurrency != .allow, slotsThisTurn[name, default: 0] > 1 {
                    let first = concurrency == .replace && replacing.insert(name).inserted
                    queued.append(QueuedSlot(job: name, trigger: trigger, scheduledAt: slot, forbid: true, replace: first, oneAfterAnother: true))
                    continue
                }
                queued.append(QueuedSlot(job: name, trigger: trigger, scheduledAt: slot, forbid: concurrency == .forbid, replace: concurrency == .replace))
                continue
            }
            if let slot, let entry = jobs[name], asksLater(entry, trigger) {
                later.append((name, trigger, slot))
                continue
            }
            if case let .skip(skip) = decide(name, trigger, scheduledAt: slot, fire: fires) { skips.append(skip) }
        }
        if !later.isEmpty {
            laterStarts.append((now.addingTimeInterval(Double(Self.laterOffer.milliseconds) / 1000), later, fires))
        }
        // A first catch-up that did not start (skipped) lets the next one go; one asked for
        // later (above) does not yet.
        for name in catchUpsAfterRun.keys.sorted() where !isUnderway(name) { skips += releaseCatchUps(of: name, fire: fires) }
        await queue(offeredNow(queued, at: now))
        skips += await askForLaterSlots(at: now)
        var marksDropped: [(runID: Int64, due: Date?)] = []
        for timer in dueTimers {
            guard let entry = jobs[timer.request.spec.name] else { continue }
            // The job became a service since its retry was set (a retry would start a second
            // process of it), or stopped being one since its restart was.
            if timer.request.trigger == .retry && entry.spec.isService || timer.request.trigger == .restart && !entry.spec.isService {
                if let id = timer.request.retryOf { marksDropped.append((id, nil)) }
                continue
            }
            if timer.request.trigger == .restart && (!entry.canStart || entry.stoppedByHand) { continue }
            if timer.request.trigger == .restart, let holder = servicesHeldElsewhere[entry.spec.name], nodesUp?.contains(holder) == true {
                // Its holder is up, so the store would refuse it again: not asked.
                timers.append(Timer(due: claimRetryDue(after: now), request: timer.request))
                continue
            }
            if timer.request.trigger == .retry, !entry.canStart {
                // Nothing of a paused or disabled job starts but a run by hand: its retry waits
                // for the resume, or for the job to be enabled again (or a cancel).
                logger.info("retry waits while the job is paused or disabled", metadata: [
                    "schedd.job": "\(entry.spec.name)", "schedd.attempt": .stringConvertible(timer.request.attempt),
                ])
                retriesAfterRun.append(timer)
                continue
            }
            if timer.request.trigger == .retry, entry.spec.effectiveConcurrency != .allow,
               active.values.contains(where: { $0.record.job == entry.spec.name }) || startingJobs[entry.spec.name] != nil {
                let running = active.values.first { $0.record.job == entry.spec.name }
                logger.info("retry waits for the job's run to end", metadata: [
                    "schedd.job": "\(entry.spec.name)", "schedd.run_id": "\(running.map { String($0.record.id) } ?? "starting")",
                    "schedd.attempt": .stringConvertible(timer.request.attempt),
                ])
                retriesAfterRun.append(timer)
                continue
            }
            let request = timer.request.withSpec(entry.sharedSpec)
            if let skip = admit(request) { skips.append(skip) }
        }
        if !marksDropped.isEmpty { await setRetries(marksDropped) }
        await record(skips)
        await recordReplaced()
        return fires.map { (write: $0, jobs: changed) }
    }

    /// The slots this node asks for `laterOffer` after their job's first node (`asksLater`)
    /// whose moment has come, decided as any slot, but for those another node has taken
    /// meanwhile (the store has their rows): their starts would be refused, and each would
    /// spend a worker's turn (or wait for one, behind runs that start) on it. A missed time of
    /// `catch_up: all` taken elsewhere lets the job's next one go, as a refused one does.
    /// Returns the skips to record.
    func askForLaterSlots(at now: Date) async -> [RunSkip] {
        guard let first = laterStarts.first, first.due <= now else { return [] }
        // They stay in `laterStarts` while the store is asked: a run of their job that ends
        // meanwhile must not release the job's next missed times ahead of them.
        let looked = laterStarts.prefix { $0.due <= now }.flatMap(\.slots).filter { jobs[$0.job]?.canStart == true }
        guard !looked.isEmpty else {
            laterStarts.removeAll { $0.due <= now }
            return []
        }
        var taken: [String: Set<Date>] = [:]
        do {
            let answer = try await store.slotsTaken(looked.map { ($0.job, $0.slot) })
            for (slot, isTaken) in zip(looked, answer) where isTaken { taken[slot.job, default: []].insert(slot.slot) }
        } catch {
            // Asked for as before the look: the store refuses those another node has.
            logger.warning("cannot read which slots other nodes have taken; asking for them all", metadata: [
                "schedd.slots": .stringConvertible(looked.count), "schedd.error": "\(error)",
            ])
        }
        var skips: [RunSkip] = []
        while let first = laterStarts.first, first.due <= now {
            laterStarts.removeFirst()
            // Not those of a job removed or paused meanwhile.
            for (name, trigger, slot) in first.slots where jobs[name]?.canStart == true {
                guard taken[name]?.contains(slot) != true else {
                    // A taken missed time lets the job's next one go, as a refused one does.
                    if catchUpsAfterRun[name] != nil, !isUnderway(name) { skips += releaseCatchUps(of: name, fire: first.fire) }
                    continue
                }
                if case let .skip(skip) = decide(name, trigger, scheduledAt: slot, fire: first.fire) { skips.append(skip) }
            }
        }
        return skips
    }

    /// Starts a run of `job` now, or refuses it by its concurrency policy. Retries and boot
    /// starts pass `force`.
    @discardableResult
    func trigger(_ job: String, _ trigger: RunTrigger, scheduledAt: Date?, force: Bool = false,
                 extraEnvironment: [String: String] = [:], triggerChain: [String] = [], triggeredByRun: Int64? = nil,
                 startSignal: RunStartSignal? = nil, by caller: String? = nil) async -> TriggerOutcome? {
        let decision = decide(job, trigger, scheduledAt: scheduledAt, force: force, extraEnvironment: extraEnvironment, triggerChain: triggerChain,
                              triggeredByRun: triggeredByRun, startSignal: startSignal, triggeredBy: caller)
        await recordReplaced()
        switch decision {
        case .queued:
            if !force, trigger == .manual || trigger == .dependency, let entry = jobs[job], entry.spec.effectiveConcurrency == .replace,
               !entry.spec.isService, store.sharedByNodes {
                await replaceElsewhere(job, before: nil)
            }
            return .queued
        case var .skip(skip):
            skip.triggeredBy = caller
            skip.triggeredByRun = triggeredByRun
            return await record([skip]).first.map(TriggerOutcome.skipped)
        case .refused: return nil
        }
    }

    /// Cluster mode, `concurrency: replace`, for a run that does not come from the queue (whose
    /// insert asks it): the job's runs on other nodes before it, of slots before `slot` (nil: a
    /// run by hand or a trigger, all of them), are asked to stop, and those still queued are
    /// recorded `skipped`, as `decide` does with this node's.
    func replaceElsewhere(_ job: String, before slot: Date?) async {
        do {
            reportFinal(try await store.replaceEarlier(job: job, slot: slot))
        } catch {
            logger.error("cannot ask the job's runs on other nodes to stop (concurrency: replace)", metadata: [
                "schedd.job": "\(job)", "schedd.error": "\(error)",
            ])
        }
    }

    /// Records the runs that `decide` took off the queue for newer ones (`concurrency:
    /// replace`): each has a row saying it never ran, as a replaced run that ran has; a retry
    /// has none (its attempt's key is the failed run's), and its mark goes.
    func recordReplaced() async {
        guard !displaced.isEmpty else { return }
        let requests = displaced
        displaced = []
        let retries = requests.compactMap(\.retryOf)
        if !retries.isEmpty { await setRetries(retries.map { ($0, nil) }) }
        let now = clock.now()
        await record(requests.compactMap {
            unstartedRow($0, "skipped: a newer run replaced it (concurrency: replace) before it started", at: now)
        })
    }

    /// The row of a run that leaves the queue without starting, if it gets one: not a
    /// service's (it starts again), a retry's (its mark stands for it) or a claimed slot's
    /// (it has its row already).
    func unstartedRow(_ request: RunRequest, _ reason: String, at now: Date) -> RunSkip? {
        guard !request.spec.isService, request.retryOf == nil, request.claimed == nil else { return nil }
        return request.skip(at: now, reason: reason)
    }

    /// What a trigger does at once.
    enum Decision {
        case queued
        /// Refused by `concurrency: forbid`: a skipped run to record.
        case skip(RunSkip)
        /// The job is gone or the engine is stopping.
        case refused
    }

    /// Queues a run of `job`, or says it is to be skipped, by its concurrency policy; `replace`
    /// stops the runs it replaces.
    func decide(_ job: String, _ trigger: RunTrigger, scheduledAt: Date?, force: Bool = false,
                extraEnvironment: [String: String] = [:], triggerChain: [String] = [], triggeredByRun: Int64? = nil,
                startSignal: RunStartSignal? = nil, fire: StoreWrite? = nil, triggeredBy: String? = nil) -> Decision {
        guard let entry = jobs[job], !stopping else { return .refused }
        if trigger == .dependency, !entry.canStart {
            // Only a run by hand starts a paused or disabled job: the job that pages is paused
            // to stop the pages.
            let state = entry.spec.isEnabled ? "paused: `schedctl resume \(job)` lets it run again" : "disabled (\"enabled\": false)"
            return .skip(RunSkip(job: job, trigger: trigger, scheduledAt: scheduledAt, at: clock.now(), reason: "skipped: \(job) is \(state)"))
        }
        // Pinned to another node: that node fires and runs it. While it is down, its slots
        // are missed, never moved; one node records them (the first of the nodes up by name,
        // so that each is recorded once).
        if let node = entry.spec.node, node != configuration.node {
            if let scheduledAt, let up = nodesUp, !up.contains(node), up.min() == configuration.node {
                metrics.firesMissed(job, 1)
                var skip = RunSkip(job: job, trigger: trigger, scheduledAt: scheduledAt, at: clock.now(),
                                   reason: "missed: node \(node), the only node this job runs on, is not up")
                skip.missedNode = node
                return .skip(skip)
            }
            return .refused
        }
        // Its slots are the node's that runs what it requires, where it can run, not a skip
        // recorded here for every slot that node runs. (Before the heartbeat has read which
        // nodes are up, the holder's refusal is the word that it is.)
        if scheduledAt != nil, let holder = holderOfEverything(entry.spec.requires ?? []), nodesUp?.contains(holder) != false {
            return .refused
        }
        if entry.spec.isService {
            // A service is one process, whatever its concurrency or a `--force`: a second
            // would share its name, its readiness and what requires it.
            if isUnderway(job) {
                let running = active.values.first { $0.record.job == job }.map { "it is running as run \($0.record.id)" }
                return .skip(RunSkip(job: job, trigger: trigger, scheduledAt: scheduledAt, at: clock.now(),
                                     reason: "skipped: \(job) is a service and \(running ?? "it is starting"); `schedctl restart \(job)` restarts it"))
            }
            // Started now, it is not started again by a restart that was waiting for its delay.
            timers.removeAll { $0.request.spec.name == job && $0.request.trigger == .restart }
        }
        if !force && isUnderway(job) {
            switch entry.spec.effectiveConcurrency {
            case .forbid:
                let running = active.values.first { $0.record.job == job }
                let waiting = held.first { $0.request.spec.name == job }.flatMap { blocker(for: $0.request.spec)?.text }
                let busy = running.map { "run \($0.record.id) is still active" }
                    ?? waiting.map { "a run is waiting (\($0))" }
                    ?? (startingJobs[job] != nil ? "a run of it is starting" : "a run is waiting for a worker")
                return .skip(RunSkip(job: job, trigger: trigger, scheduledAt: scheduledAt, at: clock.now(),
                                           reason: "skipped: \(busy) (concurrency: forbid)"))
            case .replace:
                for run in active.values where run.record.job == job {
                    run.control.cancel("replaced by a newer run (concurrency: replace)")
                }
                if startingJobs[job] != nil {
                    stoppedWhileStarting[job] = StartingStop(below: nextStartNumber, reason: "replaced by a newer run (concurrency: replace)")
                }
                let reason = "a newer run replaced it (concurrency: replace)"
                displaced += pool.removeQueued(job: job, reason: reason) + dropHeld(job: job, reason: reason)
            case .allow:
                break
            }
        }
        if let owner = JobOwner.owner(of: job), !entry.spec.isService {
            let limit = configuration.effectiveUserMaxRuns
            func mine(_ job: String) -> Bool { JobOwner.owner(of: job) == owner }
            var going = pool.queued(where: mine) + held.filter { mine($0.request.spec.name) }.count
            for run in active.values where mine(run.record.job) && jobs[run.record.job]?.spec.isService != true { going += 1 }
            if going >= limit {
                return .skip(RunSkip(job: job, trigger: trigger, scheduledAt: scheduledAt, at: clock.now(),
                                     reason: "skipped: \(owner) already has \(going) runs going or waiting, the most one user may have (schedd's --user-max-runs)"))
            }
        }
        var request = RunRequest(spec: entry.sharedSpec, trigger: trigger, attempt: 1, scheduledAt: scheduledAt,
                                 extraEnvironment: extraEnvironment, startSignal: startSignal, fire: fire, triggeredBy: triggeredBy)
        request.triggerChain = triggerChain
        request.triggeredByRun = triggeredByRun
        request.forced = force
        guard pool.canQueue(request) else {
            return .skip(RunSkip(job: job, trigger: trigger, scheduledAt: scheduledAt, at: clock.now(),
                                       reason: "skipped: \(pool.queuedCount) runs are already waiting for a worker (the most schedd queues)"))
        }
        if let skip = admit(request) { return .skip(skip) }
        return .queued
    }

    /// Writes skipped runs in one transaction and reports them; empty if they could not be
    /// written (logged).
    @discardableResult
    func record(_ skips: [RunSkip]) async -> [RunRecord] {
        guard !skips.isEmpty else { return [] }
        do {
            let records = try await store.recordSkipped(skips)
            reportFinal(records)
            // A retry's turn is over once its row is there: its mark goes, as at a start.
            let retried = skips.compactMap(\.retryOf)
            if !retried.isEmpty { await setRetries(retried.map { ($0, nil) }) }
            return records
        } catch {
            if store.sharedByNodes {
                unwritten.noteFailure(error, at: clock.now())
            } else {
                unwritten.failed(error, skips: skips, at: clock.now())
            }
            logger.error("cannot record skipped runs", metadata: [
                "schedd.job": "\(skips[0].job)", "schedd.skipped": .stringConvertible(skips.count), "schedd.error": "\(error)",
            ])
            return []
        }
    }

    /// Reports runs whose final rows the store wrote without running them (skips, and in
    /// cluster mode slots given up or claimed in vain): counted and announced.
    func reportFinal(_ records: [RunRecord]) {
        // A removed job's series went with it: its last rows do not make them again.
        for record in records {
            if jobs[record.job] != nil { metrics.runEnded(record) }
            events.publish(.runFinished(record))
        }
    }

    func enqueue(_ request: RunRequest) {
        guard !stopping else { return }
        if !request.spec.isService && pool.isFull && waitingLogged.insert(request.spec.name).inserted {
            // Once per job until one of its runs gets a worker: a pool too small for the load
            // shows in the log, not only as `skipped` rows.
            logger.warning("every worker is busy; the run waits for one", metadata: [
                "schedd.job": "\(request.spec.name)", "schedd.workers": .stringConvertible(pool.capacity),
                "schedd.queued": .stringConvertible(pool.queuedCount + 1),
            ])
        }
        pool.enqueue(request)
        events.publish(.runQueued(job: request.spec.name, trigger: request.trigger))
        wakeup.signal()
    }

    // MARK: - Running

    /// A run whose start row is written, on its way to its executor.
    struct BegunRun: Sendable {
        var request: RunRequest
        var record: RunRecord
        var control: RunControl
        var output: OutputSink
        var logger: Logger
        /// The engine's clocks when it began: a step of the wall clock while it runs is taken
        /// out of its duration.
        var began: (wall: Date, monotonic: Duration)?
    }

    /// A run that has ended, its end not yet written.
    struct EndedRun: Sendable {
        var run: BegunRun
        var outcome: RunOutcome
    }

    /// One turn's writes: the ends of the runs that ended and the starts of the runs that got
    /// a worker, given to the store together (SQLite commits them in one transaction, so the
    /// worker an end freed waits for one commit before its next run, not two). Then the ends
    /// are reported and the runs started, side by side.
    func recordTurn(_ requests: [RunRequest], _ ended: [EndedRun]) async {
        let now = clock.now()
        // Claimed slots of the queue have their rows already; the others' are written together.
        let toWrite = requests.indices.filter { requests[$0].claimed == nil }
        let starts = toWrite.map { index in
            let request = requests[index]
            var start = RunStart(job: request.spec.name, trigger: request.trigger, attempt: request.attempt, scheduledAt: request.scheduledAt,
                            startedAt: now, fire: request.fire, triggeredBy: request.triggeredBy, exclusive: request.spec.isService)
            start.triggeredByRun = request.triggeredByRun
            start.retryOf = request.retryOf
            // Held (a retry) or skipped (any other) while a run of the job goes on here
            // (`decide`, the timers' path); the store refuses it while one goes on on another
            // node. (Queued slots have the queue's rule.)
            let concurrency = request.spec.effectiveConcurrency
            switch request.trigger {
            case .retry: start.waitsForJob = concurrency != .allow && !request.spec.isService
            case .catchUp where chainsCatchUps(request.spec) && !request.spec.isService:
                // One of the missed times run one after another: it waits under `replace` too.
                start.waitsForJob = true
            case .manual, .dependency, .schedule, .catchUp:
                start.waitsForJob = concurrency == .forbid && !request.forced && !request.spec.isService
            default: break
            }
            return start
        }
        let ends = ended.map { (run: active[$0.run.record.id]?.record ?? $0.run.record, outcome: $0.outcome) }
        let writeStart = ContinuousClock.now
        let (finished, started) = await store.recordTurn(ends: ends, starts: starts)
        if !starts.isEmpty || !ends.isEmpty { metrics.storeWrite(ContinuousClock.now - writeStart) }
        switch (finished, started) {
        case let (.failure(error), _), let (_, .failure(error)): unwritten.noteFailure(error, at: clock.now())
        case (.success, .success): if !starts.isEmpty || !ends.isEmpty { unwritten.noteSuccess(at: clock.now()) }
        }
        await withDiscardingTaskGroup { group in
            // The starts first: they are what the runs waiting for a worker wait for.
            if !requests.isEmpty { group.addTask { await self.startRuns(requests, written: toWrite, started) } }
            if !ended.isEmpty { group.addTask { await self.reportEnds(ended, finished) } }
        }
    }

    /// Starts the runs that got a worker in one turn, once their start rows are written (the
    /// rows of `written`, in order): each run in its own task. A run's process or handler
    /// starts only once its row is on disk: never something that leaves no record.
    func startRuns(_ requests: [RunRequest], written toWrite: [Int], _ started: Result<[RunStart.Outcome], any Error>) async {
        let now = clock.now()
        var outcomes = requests.map { $0.claimed.map(RunStart.Outcome.started) }
        switch started {
        case let .success(written):
            for (index, outcome) in zip(toWrite, written) { outcomes[index] = outcome }
        case let .failure(error):
            var skips: [RunSkip] = []
            for index in toWrite {
                let request = requests[index]
                logger.error("cannot record the start of a run; not started", metadata: [
                    "schedd.job": "\(request.spec.name)", "schedd.error": "\(error)",
                ])
                notStarted(request, reason: "its start could not be recorded (\(error))")
                skips.append(request.skip(at: now, reason: "skipped: its start could not be recorded (\(error))"))
            }
            // Recorded once the store takes writes, so that the history shows why nothing ran
            // then. Not in a store shared by nodes: another node may have run the slot.
            if !store.sharedByNodes { unwritten.failed(error, skips: skips, at: now) }
        }
        var begun: [BegunRun] = []
        var takenOver: [String] = []
        var busySkips: [(request: RunRequest, skip: RunSkip)] = []
        for (request, written) in zip(requests, outcomes) {
            guard let outcome = written else { continue }
            switch outcome {
            case let .started(record):
                metrics.runStarted(record)
                if request.spec.isService, servicesHeldElsewhere.removeValue(forKey: request.spec.name) != nil {
                    takenOver.append(request.spec.name)
                }
                let run = begin(request, record)
                if let stop = stoppedWhileStarting[request.spec.name], request.startNumber < stop.below {
                    run.control.cancel(stop.reason, by: stop.by)
                }
                begun.append(run)
            case let .refused(reason):
                // Debug: in a cluster, every other node is refused every slot the winner takes.
                logger.debug("run not started: the store refused it", metadata: ["schedd.job": "\(request.spec.name)", "schedd.reason": "\(reason)"])
                notStarted(request, reason: reason)
                // A service refused for another reason (this node's lease lapsed, say) is
                // asked for again, or it would stay down once the reason is gone.
                if request.spec.isService { askAgain(request, now: now) }
            case let .jobBusyElsewhere(runID, holder) where request.trigger == .catchUp && chainsCatchUps(request.spec):
                // A missed time run one after another, as on one node: it waits for the job's
                // run to end, and the times after it wait behind it; asked for again when the
                // store says a run of the job ended elsewhere, or after `claimRetry`.
                logger.info("missed fire time waits for the job's run on another node", metadata: [
                    "schedd.job": "\(request.spec.name)", "schedd.run_id": .stringConvertible(runID), "schedd.node": "\(holder ?? "any")",
                ])
                notStarted(request, reason: "run \(runID) of the job goes on on another node")
                if let slot = request.scheduledAt { catchUpsAfterRun[request.spec.name, default: []].insert((request.trigger, slot), at: 0) }
                catchUpsWaitingElsewhere[request.spec.name] = claimRetryDue(after: now)
            case let .jobBusyElsewhere(runID, holder) where request.trigger != .retry:
                // A run by hand or a trigger, as on one node: skipped.
                let busy = holder.map { "run \(runID) is still active on node \($0)" } ?? "run \(runID) of the job is queued"
                busySkips.append((request, request.skip(at: now, reason: "skipped: \(busy) (concurrency: forbid)")))
                pool.finished(request)
                wakeup.signal()
            case let .jobBusyElsewhere(runID, holder):
                // A retry, as on one node: it waits for the job's run to end, asked for again
                // when the store says a run of the job ended elsewhere, or after `claimRetry`
                // (its mark stays, should this node stop meanwhile).
                logger.log(level: request.waitsElsewhere ? .debug : .info, "retry waits for the job's run on another node", metadata: [
                    "schedd.job": "\(request.spec.name)", "schedd.run_id": .stringConvertible(runID),
                    "schedd.node": "\(holder ?? "any")", "schedd.attempt": .stringConvertible(request.attempt),
                ])
                notStarted(request, reason: "run \(runID) of the job goes on on another node")
                var again = request
                again.startSignal = nil
                again.waitsElsewhere = true
                timers.append(Timer(due: claimRetryDue(after: now), request: again))
            case let .heldElsewhere(holder):
                notStarted(request, reason: "node \(holder) runs this service")
                // Taken over should that node go: asked for again when the heartbeat no longer
                // sees it up (`setNodesUp`), and looked at meanwhile in case it cannot tell.
                servicesHeldElsewhere[request.spec.name] = holder
                askAgain(request, now: now)
            }
        }
        for name in takenOver { await countStartsElsewhere(of: name) }
        // A slot of a `replace` job that does not go through the queue, won here: the job's
        // earlier runs on other nodes stop, as a queued slot's insert asks (this node's own
        // were stopped by `decide`).
        if store.sharedByNodes {
            for run in begun where run.request.spec.effectiveConcurrency == .replace && run.request.claimed == nil && !run.request.spec.isService {
                guard run.request.trigger == .schedule || run.request.trigger == .catchUp, let slot = run.request.scheduledAt else { continue }
                await replaceElsewhere(run.request.spec.name, before: slot)
            }
        }
        if !busySkips.isEmpty {
            // Its caller (`schedctl run`) gets the skipped run, as one node's `decide` gives it.
            let records = await record(busySkips.map(\.skip))
            for (index, busy) in busySkips.enumerated() {
                if index < records.count { busy.request.startSignal?.skipped(records[index]) } else { busy.request.startSignal?.drop(busy.skip.reason) }
            }
        }
        startsBeingRecorded -= requests.count
        for request in requests {
            let left = (startingJobs[request.spec.name] ?? 1) - 1
            startingJobs[request.spec.name] = left > 0 ? left : nil
            if left <= 0 { stoppedWhileStarting[request.spec.name] = nil }
        }
        wakeup.signal()
        let retried = zip(requests, outcomes).compactMap { request, outcome -> Int64? in
            guard case .started = outcome else { return nil }
            return request.retryOf
        }
        await withDiscardingTaskGroup { group in
            for run in begun {
                group.addTask { await self.perform(run) }
            }
            if !retried.isEmpty { group.addTask { await self.setRetries(retried.map { ($0, nil) }) } }
        }
    }

    /// Makes a started run active: cancellable, its output followed, its start announced.
    func begin(_ request: RunRequest, _ record: RunRecord) -> BegunRun {
        let spec = request.spec
        // It has a worker: a later wait of this job is logged again.
        waitingLogged.remove(spec.name)
        var runLogger = logger
        // Set at once: a handler may render its metadata on every change (swift-log's
        // StreamLogHandler does), and these are set on every run, logged or not.
        runLogger.handler.metadata.merge(Self.runMetadata(spec, record.id)) { $1 }
        let control = RunControl()
        let events = self.events
        let output = OutputSink(limit: Int(spec.effectiveOutputLimit)) { [job = spec.name, runID = record.id] offset, bytes, stream in
            events.publishOutput(job: job, runID: runID, offset: offset, bytes: bytes, stream: stream)
        }
        active[record.id] = ActiveRun(record: record, control: control, output: output)
        if stopping && (spec.isService || graceOverCancelled) { control.cancel("schedd is shutting down", atShutdown: true) }
        if var entry = jobs[spec.name] {
            if spec.isService {
                entry.serviceStarts.append(record.startedAt)
                entry.readyRunID = nil
            }
            entry.state.lastRunID = record.id
            jobs[spec.name] = entry
        }
        events.publish(.runStarted(record))
        request.startSignal?.resolve(record)
        runLogger.debug("run started", metadata: ["schedd.trigger": "\(request.trigger.rawValue)", "schedd.attempt": .stringConvertible(request.attempt)])
        return BegunRun(request: request, record: record, control: control, output: output, logger: runLogger,
                        began: clock.monotonicNow().map { (clock.now(), $0) })
    }

    /// What every log line of a run carries.
    static func runMetadata(_ spec: JobSpec, _ runID: Int64) -> Logger.Metadata {
        var metadata: Logger.Metadata = ["schedd.job": "\(spec.name)", "schedd.run_id": .stringConvertible(runID)]
        if case let .handler(name, _) = spec.action { metadata["schedd.handler"] = "\(name)" }
        return metadata
    }

    /// Cluster mode: the other node that runs every one of `services`, if one node does.
    func holderOfEverything(_ services: [String]) -> String? {
        // A service held here, or by nobody, counts as a holder of its own (nil).
        let holders = Set(services.map { servicesHeldElsewhere[$0] })
        guard holders.count == 1, let only = holders.first, let holder = only else { return nil }
        return holder
    }

    /// A service's start the store refused is asked for again after `claimRetry` (unless it
    /// was asked for by hand: its caller heard why).
    func askAgain(_ request: RunRequest, now: Date) {
        guard request.startSignal == nil else { return }
        let again = RunRequest(spec: request.sharedSpec, trigger: .restart, attempt: 1, scheduledAt: nil, extraEnvironment: [:])
        timers.append(Timer(due: claimRetryDue(after: now), request: again))
    }

    /// A run of `job` on another node that a retry or a missed time here waited for is no
    /// longer queued or running (it ended, was lost with its node, or was skipped; the store
    /// said so): the job's retries and missed times that wait for its runs elsewhere are
    /// asked for again now rather than at their next look, `claimRetry` apart, when a slot of
    /// the job started in between could keep them waiting again.
    package func runEndedElsewhere(job: String) {
        let now = clock.now()
        var asked = catchUpsWaitingElsewhere.removeValue(forKey: job) != nil
        for index in timers.indices where timers[index].request.waitsElsewhere && timers[index].request.spec.name == job && timers[index].due > now {
            timers[index].due = now
            asked = true
        }
        if asked { wakeup.signal() }
    }

    /// When what waits for another node (a service it may hold, a retry or a missed time
    /// refused while a run of its job goes on there) is looked at next.
    func claimRetryDue(after now: Date) -> Date {
        now.addingTimeInterval(Double(configuration.claimRetry.milliseconds) / 1000)
    }

    /// Cluster mode: a service this node has taken over counts toward its restart limit every
    /// start it had within the window, on whichever node, as its history holds them; otherwise
    /// a service that takes its node down with it would start `burst` times on every node in
    /// turn. (Its runs on a node that died are there too, `lost`.) Its restart delay goes on
    /// from its quick crashes there too, rather than from `restart_delay` on every node.
    func countStartsElsewhere(of name: String) async {
        guard let spec = jobs[name]?.spec else { return }
        let window: TimeInterval
        switch spec.effectiveRestartLimit {
        case let .limited(_, interval): window = Double(interval.milliseconds) / 1000
        case .none: window = 3600
        }
        let resetAfter = Double(spec.effectiveRestartResetAfter.milliseconds) / 1000
        let now = clock.now()
        let runs: [RunRecord]
        do {
            let since = now.addingTimeInterval(-max(window, resetAfter))
            runs = try await store.history(HistoryQuery(job: name, since: since, limit: 1000), withOutput: false)
        } catch {
            logger.warning("cannot read a service's starts on other nodes; its restart limit counts this node's only", metadata: [
                "schedd.job": "\(name)", "schedd.error": "\(error)",
            ])
            return
        }
        guard var entry = jobs[name] else { return }
        // The history holds this node's earlier starts too; the ones going now are added as
        // `begin` counted them.
        let earlier = runs.filter { active[$0.id] == nil && $0.status != .skipped && $0.status != .queued }
        let inWindow = earlier.map(\.startedAt).filter { now.timeIntervalSince($0) <= window }
        entry.serviceStarts = (inWindow + active.values.filter { $0.record.job == name }.map(\.record.startedAt)).sorted()
        entry.restartStreak = Self.restartStreak(endedNewestFirst: earlier.filter { $0.finishedAt != nil }, resetAfter: resetAfter)
        jobs[name] = entry
    }

    /// The restarts in a row a service's history shows, as `afterServiceRun` counts them on one
    /// node: each run that ended before it was up `resetAfter` adds one, back to a run that was
    /// up that long or to a start by hand (a restart, start or resume sets the count to zero).
    static func restartStreak(endedNewestFirst runs: [RunRecord], resetAfter: TimeInterval) -> Int {
        var streak = 0
        for run in runs {
            guard let finished = run.finishedAt, finished.timeIntervalSince(run.startedAt) < resetAfter else { break }
            streak += 1
            if run.trigger == .manual { break }
        }
        return streak
    }

    /// One attempt, off the engine's actor, until its outcome is known and no process of it
    /// is left. Runs in a child task of the engine's group, which is never cancelled before
    /// shutdown's drain ends.
    nonisolated func perform(_ run: BegunRun) async {
        let spec = run.request.spec
        let pid = PIDBox()
        let store = self.store
        let runID = run.record.id
        let runLogger = run.logger
        let isService = spec.isService
        let executionRequest = ExecutionRequest(
            spec: spec, runID: runID, attempt: run.request.attempt, extraEnvironment: run.request.extraEnvironment,
            scheduledAt: run.record.scheduledAt, node: configuration.node, logger: runLogger, output: run.output, onStart: { started in
                pid.set(started)
                // A service's pid is shown while it runs (`list`, `show`); other runs' pids are
                // written with their end, which saves a write per run.
                guard isService else { return }
                await self.noteServicePID(runID, started)
                do {
                    try await store.setPID(runID, pid: started)
                } catch {
                    runLogger.warning("cannot record the pid of a service", metadata: ["schedd.error": "\(error)"])
                }
            })
        let isHandler: Bool
        if case .handler = spec.action { isHandler = true } else { isHandler = false }
        let executor: any JobExecutor = isHandler ? handlers : commands
        let end: AttemptEnd
        if isService {
            // Its readiness is watched beside it, and the watch ends with it.
            end = await withTaskGroup(of: AttemptEnd?.self) { group in
                group.addTask { await Self.attempt(executor: executor, request: executionRequest, timeout: spec.timeout, clock: self.clock, timeouts: self.timeouts, control: run.control) }
                group.addTask {
                    await self.watchReadiness(run)
                    return nil
                }
                var end: AttemptEnd?
                for await next in group {
                    if let next {
                        end = next
                        break
                    }
                }
                group.cancelAll()
                return end ?? .cancelled(run.control.reason ?? "cancelled", run.control.status, nil)
            }
        } else {
            end = await Self.attempt(executor: executor, request: executionRequest, timeout: spec.timeout, clock: clock, timeouts: timeouts, control: run.control)
        }
        // No process of a run may outlive it, whatever ended it.
        var cpuMs: Int64?
        if !isHandler {
            await sweeper.sweep(job: spec.name, runID: runID, grace: spec.effectiveKillGrace)
            cpuMs = await sweeper.finish(runID: runID)
        }
        let now = clock.now()
        var outcome = end.outcome(at: now, timeout: spec.timeout)
        if let began = run.began, let monotonic = clock.monotonicNow(),
           let step = ClockStepWatch.step(wall: now.timeIntervalSince(began.wall), monotonic: monotonic - began.monotonic) {
            outcome.durationMs = max(0, RunOutcome.durationMs(from: run.record.startedAt, to: now) - Int64((step * 1000).rounded()))
        }
        outcome.pid = pid.value
        if outcome.status == .cancelled { outcome.cancelledBy = run.control.by }
        outcome.cpuMs = cpuMs
        await ended(EndedRun(run: run, outcome: outcome))
    }

    /// A failed attempt's retry, decided as its end is batched and written with it
    /// (`RunOutcome.retryAt`): a crash between its end and a mark written after lost the retry.
    /// Also during a shutdown, for the next start (or another node) to take up: an attempt
    /// that fails in the grace period, and one the shutdown stopped (due at once: the job did
    /// not fail, but its work was not done, as after a crash).
    func decidingRetry(_ end: EndedRun) -> EndedRun {
        let stoppedAtShutdown = end.outcome.status == .cancelled && end.run.control.stoppedAtShutdown
        guard end.outcome.status.isFailure || stoppedAtShutdown else { return end }
        var end = end
        end.outcome.retryAt = retryDue(end.run.request, end.outcome.applied(to: end.run.record), stoppedAtShutdown: stoppedAtShutdown)
        return end
    }

    /// While the engine stops, an end with no retry whose final result waits for the next
    /// start (`leavesFinalResult`) is marked in the same write as the end
    /// (`RunOutcome.leavesFinalResult`): a crash between its end and a mark written after
    /// lost the final result. Decided after the turn's retries and resets, which it depends on.
    func markingFinalResult(_ end: EndedRun) -> EndedRun {
        guard defersFinalResult(end.run.request, end.outcome.applied(to: end.run.record), retryDue: end.outcome.retryAt,
                                failuresResetWithEnd: end.outcome.resetsFailuresInARow) else { return end }
        var end = end
        end.outcome.leavesFinalResult = true
        return end
    }

    /// Cluster mode: the successes of a turn's ends, each its trigger's final result, reset
    /// their jobs' failures in a row with the ends' write (`RunOutcome.resetsFailuresInARow`)
    /// rather than with a call per run after it, which would be most of a node's round trips.
    /// Not a job with a failure that counts among the same ends: its count then follows the
    /// ends' order, call by call.
    func resettingFailures(_ batch: [EndedRun]) -> [EndedRun] {
        guard store.sharedByNodes else { return batch }
        let resets = Self.resetsFailuresInARow(batch.map {
            EndSummary(job: $0.run.record.job, status: $0.outcome.status, retried: $0.outcome.retryAt != nil, isService: $0.run.request.spec.isService)
        })
        return zip(batch, resets).map { end, resets in
            var end = end
            end.outcome.resetsFailuresInARow = resets
            return end
        }
    }

    /// What `resetsFailuresInARow` decides from, of one end.
    struct EndSummary: Sendable {
        var job: String
        var status: RunStatus
        /// Its retry is decided: the failure does not count yet.
        var retried: Bool
        var isService: Bool
    }

    /// Which of a turn's ends reset their job's failures in a row with their write: the
    /// successes of jobs (not services) with no failure that counts among the same ends.
    static func resetsFailuresInARow(_ ends: [EndSummary]) -> [Bool] {
        let failing = Set(ends.lazy.filter { $0.status.isFailure && !$0.retried }.map(\.job))
        return ends.map { $0.status == .succeeded && !$0.isService && !failing.contains($0.job) }
    }

    /// A run's outcome is known: its worker is free at once, and its end is written with the
    /// others of this turn.
    func ended(_ end: EndedRun) {
        pool.finished(end.run.request)
        ending.append(end)
        wakeup.signal()
    }

    /// Reports the ends of a turn's runs, once written (`finished`), and applies the policies
    /// after each (retries, restarts, thresholds, triggers). The write completed whatever was
    /// cancelled (the store's commit does not look at the calling task).
    func reportEnds(_ batch: [EndedRun], _ finished: Result<[RunRecord?], any Error>) async {
        defer {
            endsBeingRecorded -= batch.count
            wakeup.signal()
        }
        var written: [RunRecord?]?
        var catchUpSkips: [RunSkip] = []
        switch finished {
        case let .success(records):
            written = records
        case let .failure(error):
            // Kept and written again until the store takes it: a row left `running` for good
            // would say the run never ended.
            for end in batch { end.run.logger.error("cannot record the end of a run; kept to be written again", metadata: ["schedd.error": "\(error)"]) }
            lost(unwritten.failed(error, ends: batch.map { (run: active[$0.run.record.id]?.record ?? $0.run.record, outcome: $0.outcome) },
                                  at: clock.now()))
        }
        for (index, end) in batch.enumerated() {
            let run = end.run
            var final = run.record
            if let written {
                if let finished = written[index] {
                    final = finished
                } else {
                    // The row was not `running` any more (changed by hand?): report what it
                    // says, never a `run_finished` that still says running.
                    run.logger.error("the run's row was no longer running when its end was recorded")
                    final = (try? await store.run(id: run.record.id)) ?? run.record
                }
            }
            if !final.status.isFinal {
                // What the run ended with, as far as this process knows, though it is not on disk.
                final = end.outcome.applied(to: run.record)
            }
            active[run.record.id] = nil
            // The scan of the runs going on only when something waits for this job's last one.
            if stopQueue[run.record.job] != nil || !retriesAfterRun.isEmpty || !catchUpsAfterRun.isEmpty,
               !active.values.contains(where: { $0.record.job == run.record.job }) {
                stopQueue[run.record.job] = nil
                releaseRetries(of: run.record.job)
                if catchUpsAfterRun[run.record.job] != nil, !isUnderway(run.record.job) {
                    catchUpSkips += releaseCatchUps(of: run.record.job, fire: nil)
                }
            }
            if final.status.isFailure {
                lastFailure = "\(final.job) run \(final.id) \(final.status.rawValue) at \(Timestamp.format(final.finishedAt ?? clock.now()))"
            }
            if jobs[final.job] != nil { metrics.runEnded(final) }
            // Decided before the run's end is told, so that its follower hears a retry comes:
            // as the end was batched, its mark written with it (or kept with it, the store
            // refusing writes); decided now for an end whose row was no longer running.
            let markedWithEnd = written.map { $0[index] != nil } ?? true
            // (Not decided now while stopping: the row was closed by another writer, a node
            // that declared the run lost, which follows it up; this node would only mark it.)
            let retryDue = markedWithEnd ? end.outcome.retryAt : stopping ? nil : retryDue(run.request, final)
            if let retryDue {
                events.publish(.retryScheduled(job: final.job, runID: final.id, retry: RetryStatus(attempt: run.request.attempt + 1, dueAt: retryDue, retryOf: final.id,
                                                                                                node: retryNode)))
            }
            let failuresResetWithEnd = markedWithEnd && end.outcome.resetsFailuresInARow
            // What `afterRun` leaves for the next start while stopping, told first as a retry is.
            if defersFinalResult(run.request, final, retryDue: retryDue, failuresResetWithEnd: failuresResetWithEnd) {
                events.publish(.finalResultDeferred(job: final.job, runID: final.id, byAnotherNode: store.sharedByNodes))
            }
            let pauses = endPausesJob(run.request, final, retryDue: retryDue)
            if pauses { events.publish(.jobPaused(job: final.job, reason: "failure_threshold", runID: final.id)) }
            if let followUp = endTriggers(run.request, final, retryDue: retryDue) {
                events.publish(.followUp(job: final.job, runID: final.id, field: followUp.field, target: followUp.target))
            }
            events.publish(.runFinished(final))
            var metadata: Logger.Metadata = [
                "schedd.status": "\(final.status.rawValue)", "schedd.duration_ms": .stringConvertible(final.durationMs ?? 0),
            ]
            // Why it failed, in the journal too, not only in the database.
            if final.status.isFailure {
                if let error = final.error { metadata["schedd.error"] = "\(error)" }
                if let code = final.exitCode { metadata["schedd.exit_code"] = .stringConvertible(code) }
                if let signal = final.signal { metadata["schedd.signal"] = .stringConvertible(signal) }
            }
            run.logger.log(level: final.status.isFailure ? .warning : .info, "run finished", metadata: metadata)
            await afterRun(run.request, final, retryDue: .some(retryDue), markedWithEnd: markedWithEnd,
                           failuresResetWithEnd: failuresResetWithEnd, finalResultMarkedWithEnd: markedWithEnd && end.outcome.leavesFinalResult,
                           pauseAnnounced: pauses)
        }
        _ = await record(catchUpSkips)
    }

    /// The next missed times of `job` held by `catch_up: all` (`catchUpsAfterRun`), now that
    /// no run of it goes on: the oldest starts, and any refused is recorded and the next tried.
    /// Not while the one before them waits to be asked for after the job's first node
    /// (`laterStarts`): they would run before it. Those of a job paused, disabled or removed
    /// meanwhile are dropped, as its fires are.
    func releaseCatchUps(of job: String, fire: StoreWrite?) -> [RunSkip] {
        var skips: [RunSkip] = []
        while var waiting = catchUpsAfterRun[job], !waiting.isEmpty, !isUnderway(job), !catchUpsWait(elsewhere: job),
              !laterStarts.contains(where: { $0.slots.contains { $0.job == job } }) {
            guard !stopping, let entry = jobs[job], entry.canStart else {
                catchUpsAfterRun[job] = nil
                if !stopping {
                    logger.notice("missed fire times not run: the job was paused, disabled or removed", metadata: [
                        "schedd.job": "\(job)", "schedd.missed": .stringConvertible(waiting.count),
                    ])
                    metrics.firesMissed(job, waiting.count)
                }
                break
            }
            let next = waiting.removeFirst()
            catchUpsAfterRun[job] = waiting.isEmpty ? nil : waiting
            if case let .skip(skip) = decide(job, next.trigger, scheduledAt: next.slot, fire: fire) { skips.append(skip) }
        }
        return skips
    }

    /// Whether `job`'s missed times run one after another (`catch_up: all` under `forbid` or
    /// `replace`).
    func chainsCatchUps(_ spec: JobSpec) -> Bool {
        spec.effectiveCatchUp == .all && spec.effectiveConcurrency != .allow
    }

    /// Whether `job`'s next missed time still waits for a run of the job on another node.
    func catchUpsWait(elsewhere job: String) -> Bool {
        guard let until = catchUpsWaitingElsewhere[job] else { return false }
        if clock.now() < until { return true }
        catchUpsWaitingElsewhere[job] = nil
        return false
    }

    /// The retries of `job` held while a run of it went on or it was paused or disabled
    /// (`retriesAfterRun`): due now (one of a job still paused or disabled is held again).
    func releaseRetries(of job: String) {
        guard retriesAfterRun.contains(where: { $0.request.spec.name == job }) else { return }
        let now = clock.now()
        for var timer in retriesAfterRun where timer.request.spec.name == job {
            timer.due = now
            timers.append(timer)
        }
        retriesAfterRun.removeAll { $0.request.spec.name == job }
        wakeup.signal()
    }

    /// A request that got no run: its waiter hears why, and its worker is free.
    func notStarted(_ request: RunRequest, reason: String) {
        request.startSignal?.drop(reason)
        pool.finished(request)
        wakeup.signal()
    }

    func noteServicePID(_ runID: Int64, _ pid: Int32) {
        active[runID]?.record.pid = pid
    }
}
