import Foundation
import SchedulerAPI

extension JobScheduler {
    /// Triggers a job now (`schedctl run`). It obeys the job's concurrency policy unless `force`.
    public func runNow(_ job: String, force: Bool = false, by caller: String? = nil) async throws -> TriggerOutcome {
        guard let entry = jobs[job] else { throw APIError(.notFound, "no job named \"\(job)\"") }
        guard !stopping else { throw APIError(.conflict, "schedd is shutting down") }
        try checkPinned(entry.spec)
        guard let outcome = await trigger(job, .manual, scheduledAt: nil, force: force, by: caller) else {
            throw APIError(.internal, "the run of \"\(job)\" could not be recorded")
        }
        return outcome
    }

    /// Triggers a job now and waits until its run has started (a worker may be busy): the
    /// control API's `run`, which answers with the run to follow. A skipped run is returned
    /// as recorded.
    /// `by` is who asked (`runs.triggered_by`).
    public func start(_ job: String, force: Bool = false, by caller: String? = nil) async throws -> (started: Bool, run: RunRecord) {
        guard let entry = jobs[job] else { throw APIError(.notFound, "no job named \"\(job)\"") }
        guard !stopping else { throw APIError(.conflict, "schedd is shutting down") }
        if let node = entry.spec.node, node != configuration.node, store.sharedByNodes {
            // Pinned to another node: queued for that node, which claims it (`status` queued);
            // refused by the store while that node is not up.
            let queued = try await store.queueRun(job: job, node: node, triggeredBy: caller)
            logger.info("run queued for the node its job is pinned to", metadata: [
                "schedd.job": "\(job)", "schedd.run_id": .stringConvertible(queued.id), "schedd.node": "\(node)",
            ])
            return (true, queued)
        }
        if store.sharedByNodes, !entry.spec.isService, let holder = holderOfEverything(entry.spec.requires ?? []), nodesUp?.contains(holder) != false {
            // What it requires runs on another node, which fires its slots: its manual runs go
            // there too (asked here, one waited out its requires_wait and was skipped).
            let queued: RunRecord
            do {
                queued = try await store.queueRun(job: job, node: holder, triggeredBy: caller)
            } catch let error as APIError where error.code == .conflict {
                throw APIError(.conflict, "\"\(job)\" runs where what it requires runs, on node \(holder), which is not up: the run was not queued")
            }
            logger.info("run queued for the node that runs what its job requires", metadata: [
                "schedd.job": "\(job)", "schedd.run_id": .stringConvertible(queued.id), "schedd.node": "\(holder)",
            ])
            return (true, queued)
        }
        try checkPinned(entry.spec)
        let signal = RunStartSignal()
        switch await trigger(job, .manual, scheduledAt: nil, force: force, startSignal: signal, by: caller) {
        case let .skipped(record)?:
            return (false, record)
        case .queued?:
            switch await signal.wait() {
            case let .started(record):
                return (true, record)
            case let .dropped(reason):
                throw APIError(.conflict, "the run of \"\(job)\" was not started: \(reason)")
            case let .skipped(record):
                return (false, record)
            }
        case nil:
            throw APIError(.internal, "the run of \"\(job)\" could not be recorded")
        }
    }

    /// Cluster mode: what this node took over from nodes it declared dead. A lost run (its node
    /// stopped renewing its lease while it ran) is a failed attempt by its job's policy, as if
    /// it had failed here: retried, its retry marked as this node's, or counted and followed by
    /// `on_failure`. A retry that waited for its time is taken up, due when it was. Services
    /// move to a node that claims them; a job pinned to another node is never moved: a lost
    /// run of one (pinned to the node that died) is retried by that node when it is back (its
    /// retry is marked for it), as its slots are missed while it is down; with no retries left,
    /// its failure is counted and followed by `on_failure` here. `policies`: runs that ended
    /// as their node stopped, whose final results are now this node's to apply
    /// (`applyFinalResults`). While this node stops, what follows a lost run is marked as what
    /// follows its own runs' ends then: a retry for its next start (or for the node that takes
    /// its retries over once it has left), a final result likewise; nothing starts now.
    package func takeOver(lost: [RunRecord], retries: [(run: RunRecord, due: Date)], policies: [RunRecord] = []) async {
        await takeUp(retries)
        for run in lost {
            guard let entry = jobs[run.job], !entry.spec.isService else { continue }
            let pinnedTo = entry.spec.node.flatMap { $0 == configuration.node ? nil : $0 }
            logger.notice(pinnedTo != nil ? "a run lost with the node its job is pinned to: retried by that node when it is back, or counted here"
                                          : "a run lost with its node is handled here by its job's policy", metadata: [
                "schedd.job": "\(run.job)", "schedd.run_id": .stringConvertible(run.id), "schedd.attempt": .stringConvertible(run.attempt),
            ])
            let resumed = await request(resuming: run, entry, trigger: run.trigger, attempt: run.attempt)
            await afterRun(resumed, run, retryNode: pinnedTo, retryDue: stopping ? .some(retryDue(resumed, run)) : nil)
        }
        await applyFinalResults(policies)
        wakeup.signal()
    }

    /// Cluster mode: this node was declared dead, and the node that did so took over its
    /// pending retries: they are no longer this node's to run. (Those it left, of jobs pinned
    /// to this node, are read again once the node has registered again:
    /// `resumePendingRetries`.)
    package func dropPendingRetries() {
        timers.removeAll { $0.request.retryOf != nil }
        retriesAfterRun.removeAll()
        pool.removeQueued(where: { $0.retryOf != nil }, reason: "this node was declared dead; another node took the retry over")
    }

    /// Cluster mode: the nodes that are up now (read by the node's heartbeat).
    /// A service whose holder is no longer among them is asked for at once.
    package func setNodesUp(_ names: Set<String>) {
        nodesUp = names
        let freed = Set(servicesHeldElsewhere.filter { !names.contains($0.value) }.keys)
        guard !freed.isEmpty else { return }
        let now = clock.now()
        for index in timers.indices where timers[index].request.trigger == .restart && freed.contains(timers[index].request.spec.name) {
            timers[index].due = min(timers[index].due, now)
        }
        wakeup.signal()
    }

    /// Cluster mode: stops every active run at once, because this node can no longer vouch for
    /// them (its lease lapsed: the cluster may be giving them to another node). Returns how
    /// many were asked to stop.
    @discardableResult
    package func stopAllRuns(reason: String) -> Int {
        for run in active.values { run.control.cancel(reason) }
        return active.count
    }

    /// Refuses to start here a job pinned to another node.
    func checkPinned(_ spec: JobSpec) throws {
        if let node = spec.node, node != configuration.node {
            throw APIError(.conflict, "\"\(spec.name)\" runs only on node \(node) (its \"node\"); this is node \(configuration.node): ask that node's schedd")
        }
    }

    /// Stops an active run (SIGTERM, `kill_grace`, SIGKILL); its status becomes `cancelled`.
    /// In cluster mode a run of another node is cancelled by that node, asked through the
    /// database. A failed run whose retry has not started has that retry dropped instead
    /// (recorded `skipped`, saying who cancelled it), and so has a failed run earlier in the
    /// same trigger's attempts: cancelling an attempt a user sees failed is how they stop what
    /// would follow it.
    @discardableResult
    public func cancel(runID: Int64, reason: String = "cancelled by schedctl", by caller: String? = nil) async throws -> CancelledRuns {
        if let run = active[runID] {
            run.control.cancel(reason, by: caller)
            return CancelledRuns(runs: [runID], retries: [])
        }
        let last = try await lastAttempt(after: runID)
        let retries = await dropRetries(where: { $0.retryOf == last }, reason: reason, by: caller)
        if !retries.isEmpty { return CancelledRuns(runs: [], retries: retries) }
        let asked = try await store.requestCancel(runIDs: [runID], job: nil, reason: "\(reason) (asked on node \(configuration.node))", by: caller)
        if asked.contains(runID) { return CancelledRuns(runs: [runID], retries: []) }
        let elsewhere = try await skipRetriesElsewhere(runIDs: [runID], job: nil, by: caller)
        guard !elsewhere.isEmpty else { throw APIError(.notFound, "run \(runID) is not active") }
        return CancelledRuns(runs: [], retries: elsewhere)
    }

    /// Cancels the active runs of a job, on every node in cluster mode, and what of it has not
    /// started: its retries (on every node in cluster mode: a retry would start again what was
    /// cancelled, or go on with a run that failed), its runs waiting for a worker or for what
    /// they require, and its missed times waiting their turn (`catch_up: all`). Each of those
    /// is recorded `skipped`, saying who cancelled it. Its schedule goes on (`pause` stops it).
    public func cancel(job: String, reason: String = "cancelled by schedctl", by caller: String? = nil) async throws -> CancelledRuns {
        // A removed job's run goes on to its end: it is still cancelled by the job's name.
        guard jobs[job] != nil || active.values.contains(where: { $0.record.job == job }) else {
            throw APIError(.notFound, "no job named \"\(job)\"")
        }
        let runs = active.values.filter { $0.record.job == job }
        runs.forEach { $0.control.cancel(reason, by: caller) }
        let starting = stopStarting(job, reason, by: caller)
        let retries = await dropRetries(where: { $0.spec.name == job }, reason: reason, by: caller)
        let waiting = await dropWaiting(job: job, reason: reason, by: caller)
        let elsewhere = try await store.requestCancel(runIDs: [], job: job, reason: "\(reason) (asked on node \(configuration.node))", by: caller)
        let retriesElsewhere = try await skipRetriesElsewhere(runIDs: [], job: job, by: caller)
        return CancelledRuns(runs: Set(runs.map(\.record.id) + elsewhere).sorted(), retries: retries + retriesElsewhere, waiting: waiting, starting: starting)
    }

    /// Stops the runs of `job` that are out of the pool and not active yet (their start rows
    /// are being written) as each begins, recorded `cancelled` with `reason` as the active ones
    /// are; returns how many.
    @discardableResult
    func stopStarting(_ job: String, _ reason: String, by caller: String?) -> Int {
        let starting = startingJobs[job] ?? 0
        if starting > 0 { stoppedWhileStarting[job] = StartingStop(below: nextStartNumber, reason: reason, by: caller) }
        return starting
    }

    /// Drops the runs of `job` that wait to start, retries aside (`dropRetries`) and services
    /// aside (supervised, not queued work), and the missed times it holds for `catch_up: all`;
    /// records each `skipped`, and returns the rows; in cluster mode, its runs still queued in
    /// the database too. A slot this node claimed from the cluster's queue stays: its row is
    /// `running` already, and it starts to end it.
    private func dropWaiting(job: String, reason: String, by caller: String?) async -> [Int64] {
        func isWaiting(_ request: RunRequest) -> Bool {
            request.spec.name == job && request.trigger != .retry && !request.spec.isService && request.claimed == nil
        }
        let requests = takeWaiting(where: isWaiting, reason: reason)
        let now = clock.now()
        let why = Self.cancelledBeforeStart(by: caller)
        var skips = requests.compactMap { unstartedRow($0, why, at: now) }
        catchUpsWaitingElsewhere[job] = nil
        for (trigger, slot) in catchUpsAfterRun.removeValue(forKey: job) ?? [] {
            skips.append(RunSkip(job: job, trigger: trigger, scheduledAt: slot, at: now, reason: why))
        }
        var recorded = skips.isEmpty ? [] : await record(skips).map(\.id)
        if store.queuesSlots {
            // The cluster's queue: slots and runs queued for a node, not claimed yet.
            do {
                let queued = try await store.skipQueued(job: job, reason: why + " (on node \(configuration.node))", by: caller)
                reportFinal(queued)
                recorded += queued.map(\.id)
            } catch {
                logger.error("cannot record the job's queued runs as skipped", metadata: ["schedd.job": "\(job)", "schedd.error": "\(error)"])
            }
        }
        return recorded
    }

    /// Cluster mode: records as skipped the retries other nodes hold (of `job`, or following
    /// `runIDs`), which those nodes then do not start; reported as this node's skips are.
    private func skipRetriesElsewhere(runIDs: [Int64], job: String?, by caller: String?) async throws -> [Int64] {
        guard store.sharedByNodes else { return [] }
        let skipped = try await store.skipRetriesElsewhere(
            runIDs: runIDs, job: job, reason: Self.cancelledBeforeStart(by: caller) + " (on node \(configuration.node))", by: caller)
        reportFinal(skipped)
        return skipped.map(\.id)
    }

    /// Takes the runs that `matches` out of those waiting for a worker and for what they
    /// require; whoever waits for one of them to start hears `reason`.
    func takeWaiting(where matches: (RunRequest) -> Bool, reason: String) -> [RunRequest] {
        var requests = pool.removeQueued(where: matches, reason: reason)
        held.removeAll { waiting in
            guard matches(waiting.request) else { return false }
            waiting.request.startSignal?.drop(reason)
            requests.append(waiting.request)
            return true
        }
        return requests
    }

    static func cancelledBeforeStart(by caller: String?) -> String {
        "skipped: cancelled before it started\(caller.map { " by \($0)" } ?? "")"
    }

    /// The failed attempt whose retry waits here, of the trigger whose attempt `runID` is:
    /// `runID` itself, or a later attempt of the same trigger (each retry's row names the
    /// attempt it follows); `runID` when none waits.
    private func lastAttempt(after runID: Int64) async throws -> Int64 {
        guard let run = try await store.run(id: runID), run.status.isFinal else { return runID }
        func isRetry(_ request: RunRequest) -> Bool { request.spec.name == run.job && request.trigger == .retry }
        let waiting = (timers + retriesAfterRun).map(\.request).filter(isRetry) + pool.allQueued(where: isRetry) + held.map(\.request).filter(isRetry)
        for retry in waiting where retry.attempt > run.attempt + 1 {
            // Back from the attempt it follows, one row per attempt, to `runID` or the first.
            var id = retry.retryOf
            for _ in 0..<(retry.attempt - run.attempt - 1) {
                guard let step = id, step != runID, let row = try await store.run(id: step) else { break }
                id = row.retryOf
            }
            if id == runID, let followed = retry.retryOf { return followed }
        }
        return runID
    }

    /// Drops this node's retries that have not started and that `matches` picks, wherever they
    /// wait (for their time, for the job's run to end, for a worker, for what they require),
    /// and records each `skipped`; returns the rows recording them.
    private func dropRetries(where matches: (RunRequest) -> Bool, reason: String, by caller: String?) async -> [Int64] {
        func isRetry(_ request: RunRequest) -> Bool { request.trigger == .retry && matches(request) }
        var retries = (timers + retriesAfterRun).map(\.request).filter(isRetry)
        timers.removeAll { isRetry($0.request) }
        retriesAfterRun.removeAll { isRetry($0.request) }
        retries += takeWaiting(where: isRetry, reason: reason)
        guard !retries.isEmpty else { return [] }
        let now = clock.now()
        return await record(retries.map { $0.skip(at: now, reason: Self.cancelledBeforeStart(by: caller)) }).map(\.id)
    }

    /// Cluster mode: cancels the runs of this node that other nodes asked to cancel (the
    /// heartbeat passes them on, when told and on its poll).
    package func cancelAsked(_ requests: [CancelRequest]) {
        for request in requests {
            guard let run = active[request.runID], run.control.reason == nil else { continue }
            logger.notice("run cancelled at another node's request", metadata: [
                "schedd.job": "\(run.record.job)", "schedd.run_id": .stringConvertible(request.runID), "schedd.reason": "\(request.reason)",
            ])
            run.control.cancel(request.reason, by: request.by)
        }
    }

    /// Stops a job from firing (or a service from restarting). `announced`: its `jobPaused`
    /// event was published already (before the end of the run that paused it).
    public func pause(_ job: String, reason: String = "manual", announced: Bool = false) async {
        guard var entry = jobs[job] else { return }
        entry.state.paused = true
        entry.state.pauseReason = reason
        jobs[job] = entry
        timers.removeAll { $0.request.spec.name == job && $0.request.trigger == .restart }
        if entry.spec.isService { dropHeld(job: job, reason: "the job was paused (\(reason))") }
        // Before the write's wait: the main loop would hand a waiting run a worker meanwhile.
        let withdrawn = withdrawUnstarted(of: job, because: reason == "manual" ? "the job was paused" : "the job was paused (\(reason))")
        do {
            try await store.saveStates([(job, entry.state)])
        } catch {
            statesNotWritten([job], error)
        }
        if !announced { events.publish(.jobPaused(job: job, reason: reason)) }
        await record(withdrawn)
    }

    /// Takes back what of `job` has not started, now that it may not start (paused or
    /// disabled, here or on another node): a retry waits for the job to start again
    /// (`retriesAfterRun`); a run that the schedule or another job's `on_failure`/`on_success`
    /// asked for, waiting for a worker or for what it requires, is dropped, and returned as
    /// the `skipped` row to record; the missed times held for `catch_up: all` are missed, as
    /// the paused job's slots are. A manual run stays (`schedctl run` runs a paused or
    /// disabled job), as do a service's start (its own rules decide) and a slot claimed from
    /// the cluster's queue (its row says it runs here; it was checked when claimed).
    /// Of a job `removed`, everything that has not started goes, manual runs, service starts
    /// and retries waiting for their time included: each retry gets its `skipped` row, which
    /// ends its mark (a mark left for ever would also keep the failed run from retention).
    func withdrawUnstarted(of job: String, because why: String, removed: Bool = false) -> [RunSkip] {
        func withdrawn(_ request: RunRequest) -> Bool {
            request.spec.name == job && request.claimed == nil && (removed || request.trigger != .manual && !request.spec.isService)
        }
        var requests = takeWaiting(where: withdrawn, reason: why)
        if removed {
            requests += (timers + retriesAfterRun).map(\.request).filter { $0.spec.name == job && $0.trigger == .retry }
            timers.removeAll { $0.request.spec.name == job }
            retriesAfterRun.removeAll { $0.request.spec.name == job }
        }
        catchUpsWaitingElsewhere[job] = nil
        if let missed = catchUpsAfterRun.removeValue(forKey: job), !removed {
            logger.notice("missed fire times not run: the job was paused, disabled or removed", metadata: [
                "schedd.job": "\(job)", "schedd.missed": .stringConvertible(missed.count),
            ])
            metrics.firesMissed(job, missed.count)
        }
        let now = clock.now()
        var skips: [RunSkip] = []
        for request in requests {
            if request.trigger == .retry && removed {
                skips.append(request.skip(at: now, reason: "skipped: \(why) before it started"))
            } else if request.trigger == .retry {
                logger.info("retry waits while the job is paused or disabled", metadata: [
                    "schedd.job": "\(job)", "schedd.attempt": .stringConvertible(request.attempt),
                ])
                retriesAfterRun.append(Timer(due: now, request: request))
            } else if let skip = unstartedRow(request, "skipped: \(why) before it started", at: now) {
                skips.append(skip)
            }
        }
        if !requests.isEmpty { wakeup.signal() }
        return skips
    }

    /// Resumes a job: clears a pause, a failure threshold, or a failed service (which starts
    /// again, its run recording `caller` as `start`'s does).
    public func resume(_ job: String, by caller: String? = nil) async throws {
        guard var entry = jobs[job] else { throw APIError(.notFound, "no job named \"\(job)\"") }
        entry.state.paused = false
        entry.state.pauseReason = nil
        entry.state.consecutiveFailures = 0
        entry.serviceStarts = []
        entry.restartStreak = 0
        entry.stoppedByHand = false
        jobs[job] = entry
        do {
            try await store.saveStates([(job, entry.state)])
        } catch {
            // As for a pause: the engine goes by it now, and the store gets it when it can.
            statesNotWritten([job], error)
        }
        events.publish(.jobResumed(job: job))
        if !active.values.contains(where: { $0.record.job == job }) { releaseRetries(of: job) }
        if entry.spec.isService && entry.spec.isEnabled && !isUnderway(job) {
            await trigger(job, .manual, scheduledAt: nil, force: true, by: caller)
        }
        wakeup.signal()
    }

    /// Whether a run of `job` is going on, waits for a worker, or waits for what it requires.
    func isUnderway(_ job: String) -> Bool {
        active.values.contains { $0.record.job == job } || startingJobs[job] != nil || pool.queued(job: job) > 0
            || held.contains { $0.request.spec.name == job }
    }

    func service(named job: String) throws -> JobEntry {
        guard let entry = jobs[job] else { throw APIError(.notFound, "no job named \"\(job)\"") }
        guard entry.spec.isService else {
            throw APIError(.invalidArgument, "\"\(job)\" is not a service (it has no \"restart\"): use `schedctl run \(job)` or `schedctl cancel \(job)`")
        }
        guard !stopping else { throw APIError(.conflict, "schedd is shutting down") }
        // Cluster mode: stopping, starting or restarting here what another node runs would
        // change nothing there, yet say it was done (`serviceCommandElsewhere` asks that node).
        if let holder = holderElsewhere(ofService: job) {
            throw APIError(.conflict, "\"\(job)\" runs on node \(holder): stop, start or restart it there (`schedctl pause` and `resume` reach every node)")
        }
        return entry
    }

    /// Cluster mode: the node that runs service `job`, when it is another node that is up and
    /// nothing of the service is underway here.
    func holderElsewhere(ofService job: String) -> String? {
        guard let holder = servicesHeldElsewhere[job], nodesUp?.contains(holder) != false, !isUnderway(job) else { return nil }
        return holder
    }

    /// Stops, starts or restarts a service (`schedctl stop`, `start`, `restart`): here, or, in
    /// cluster mode, on the node that runs it (`serviceCommandElsewhere`), whose answer it
    /// returns: the service's state there. Nil when it was done here.
    package func serviceCommand(_ job: String, _ action: ServiceCommand.Action, by caller: String?) async throws -> (state: String, reason: String?)? {
        if let elsewhere = try await serviceCommandElsewhere(job, action, by: caller) { return elsewhere }
        try await serviceCommandHere(job, action, by: caller)
        return nil
    }

    private func serviceCommandHere(_ job: String, _ action: ServiceCommand.Action, by caller: String?) async throws {
        switch action {
        case .stop: try stopService(job, by: caller)
        case .start: try await startService(job, by: caller)
        case .restart: try await restartService(job, by: caller)
        }
    }

    /// Cluster mode: a stop, start or restart of a service that another node runs is that
    /// node's to do. It is asked of that node through the store (which wakes it), done there as
    /// if asked there, and answered with the service's state there (`reason` names the node).
    /// Nil when the service is not another node's: the caller does it here. A refusal there is
    /// thrown as one here; an ask not taken within `wait` is withdrawn, and says so.
    func serviceCommandElsewhere(_ job: String, _ action: ServiceCommand.Action, by caller: String?,
                                         wait: Duration = .seconds(5)) async throws -> (state: String, reason: String?)? {
        guard let entry = jobs[job], entry.spec.isService, !stopping, let holder = holderElsewhere(ofService: job) else { return nil }
        guard store.carriesServiceCommands else { _ = try service(named: job); return nil }
        let id = try await store.askService(job, action, of: holder, by: caller)
        let start = ContinuousClock.now
        var taken = false
        while true {
            if let answer = try await store.serviceAnswer(id) {
                if let error = answer.error { throw APIError(.conflict, "on node \(holder): \(error)") }
                return (answer.state ?? "elsewhere", "on node \(holder)" + (answer.reason.map { ", \($0)" } ?? ""))
            }
            // Not taken in time (the node is busy, or an older schedd that does not read asks):
            // withdrawn, so that it is not done later behind the caller's back. Taken, it is
            // being done: a while more for the answer.
            if !taken && ContinuousClock.now - start > wait {
                guard try await store.withdrawServiceAsk(id) else {
                    taken = true
                    continue
                }
                throw APIError(.conflict, "node \(holder), which runs \"\(job)\", did not take the \(action.rawValue) within \(DurationText.format(milliseconds: wait.milliseconds)): nothing was done (is it an older schedd? then \(action.rawValue) it there)")
            }
            if taken && ContinuousClock.now - start > wait * 2 {
                throw APIError(.conflict, "node \(holder) took the \(action.rawValue) of \"\(job)\" but has not answered: `schedctl show \(job)` there says where it stands")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Does what other nodes asked of this node's services (`serviceCommandElsewhere`), each as
    /// if asked here by its caller, and returns each ask's answer.
    package func serviceCommandsAsked(_ commands: [ServiceCommand]) async -> [(id: Int64, answer: ServiceCommand.Answer)] {
        var answers: [(id: Int64, answer: ServiceCommand.Answer)] = []
        for command in commands {
            let by = "\(command.by ?? "schedctl") (asked on node \(command.askedOn))"
            do {
                try await serviceCommandHere(command.job, command.action, by: by)
                let state = serviceState(command.job)
                answers.append((command.id, ServiceCommand.Answer(state: state.state, reason: state.reason)))
                logger.notice("service command done at another node's request", metadata: [
                    "schedd.job": "\(command.job)", "schedd.action": "\(command.action.rawValue)", "schedd.node": "\(command.askedOn)",
                ])
            } catch {
                answers.append((command.id, ServiceCommand.Answer(error: (error as? APIError)?.description ?? "\(error)")))
            }
        }
        return answers
    }

    /// Stops a service (`schedctl stop`): what requires it is stopped first, then it gets its
    /// SIGTERM and `kill_grace`; it stays down, and is not restarted, until `startService` or
    /// `restartService` (or the daemon's next start: a stop is not stored, unlike a pause).
    public func stopService(_ job: String, by caller: String? = nil) throws {
        var entry = try service(named: job)
        entry.stoppedByHand = true
        entry.restartRequested = nil
        jobs[job] = entry
        timers.removeAll { $0.request.spec.name == job && $0.request.trigger == .restart }
        pool.removeQueued(job: job, reason: "the service was stopped by schedctl")
        dropHeld(job: job, reason: "the service was stopped by schedctl")
        if active.values.contains(where: { $0.record.job == job }) { stopQueue[job] = ServiceStop("stopped by schedctl", by: caller) }
        stopStarting(job, "stopped by schedctl", by: caller)
        stopDependents(of: job)
        store.changes.bump()
        wakeup.signal()
    }

    /// Starts a stopped service (`schedctl start`); nothing happens to one that is running or
    /// on its way. A paused or failed service is started with `resume`.
    public func startService(_ job: String, by caller: String? = nil) async throws {
        var entry = try service(named: job)
        if entry.state.paused {
            throw APIError(.conflict, "\"\(job)\" is \(entry.state.pauseReason == "restart_limit" ? "failed (restart_limit)" : "paused"): `schedctl resume \(job)` starts it again")
        }
        guard entry.spec.isEnabled else { throw APIError(.conflict, "\"\(job)\" is disabled (\"enabled\": false in its definition)") }
        entry.stoppedByHand = false
        entry.restartStreak = 0
        jobs[job] = entry
        store.changes.bump()
        guard !isUnderway(job) else { return }
        timers.removeAll { $0.request.spec.name == job && $0.request.trigger == .restart }
        await trigger(job, .manual, scheduledAt: nil, force: true, by: caller)
    }

    /// Restarts a service (`schedctl restart`): its run is stopped (SIGTERM, `kill_grace`) and
    /// recorded `cancelled` with the cause, and it starts again at once; one that is not
    /// running is started. What requires it is left running.
    public func restartService(_ job: String, by caller: String? = nil) async throws {
        var entry = try service(named: job)
        guard let run = active.values.first(where: { $0.record.job == job }) else {
            try await startService(job, by: caller)
            return
        }
        if entry.state.paused { throw APIError(.conflict, "\"\(job)\" is paused: `schedctl resume \(job)` starts it again") }
        entry.restartRequested = .byHand(caller)
        entry.stoppedByHand = false
        jobs[job] = entry
        run.control.cancel("restarted by schedctl", by: caller)
        store.changes.bump()
    }

    /// Whether the engine has loaded its jobs and started its services (systemd's READY=1).
    public var isReady: Bool { loaded }

    /// A one-line view of the engine, for systemd's `STATUS=`: answering it also proves the
    /// actor is alive, which is what the watchdog pings rely on.
    public func summary() -> String {
        let paused = jobs.values.filter { $0.state.paused && $0.state.pauseReason != "restart_limit" }.count
        let failed = jobs.values.filter { $0.state.pauseReason == "restart_limit" }.count
        var text = "\(jobs.count) \(jobs.count == 1 ? "job" : "jobs"), \(pool.busy)/\(pool.capacity) running, \(pool.queuedCount) queued"
        if pool.services > 0 { text += ", \(pool.services) \(pool.services == 1 ? "service" : "services")" }
        if paused > 0 { text += ", \(paused) paused" }
        if failed > 0 { text += ", \(failed) failed" }
        if let trouble = storeTrouble {
            text += trouble.error != nil ? "; database writes failing" : "; database writes pending"
        }
        if let lastFailure { text += "; last failure: \(lastFailure)" }
        return text
    }

    /// The references of `job` that it cannot use, as of the last load of the jobs
    /// (`Load.brokenReferences`); nil when none.
    public func brokenReferences(of job: String) -> [BrokenReference]? {
        let broken = brokenReferences.filter { $0.job == job }
        return broken.isEmpty ? nil : broken
    }

    /// The pool's load.
    public func load() -> Load {
        Load(busy: pool.busy, workers: pool.capacity, queued: pool.queuedCount,
             queuedJobs: pool.waitingJobs(limit: 10), held: held.count { !$0.request.spec.isService }, services: pool.services, invalidJobs: invalidJobs,
             brokenReferences: brokenReferences, storeTrouble: storeTrouble,
             timeZone: defaultZone.identifier,
             shuttingDown: stopping ? StatusResponse.ShuttingDown(graceEndsAt: graceOverCancelled ? nil : shutdownDeadline, runs: active.count) : nil)
    }

    /// `infos` as read from the store, with the engine's state for the jobs whose state the
    /// store refused (a pause, say): what is in effect.
    public func withUnwrittenStates(_ infos: [JobInfo]) -> [JobInfo] {
        let notWritten = unwritten.jobsNotWritten
        guard !notWritten.isEmpty else { return infos }
        return infos.map { info in
            guard notWritten.contains(info.name), let entry = jobs[info.name] else { return info }
            var info = info
            info.state = entry.state
            return info
        }
    }

    /// The store's trouble, if it refuses writes or what it refused is not written yet.
    var storeTrouble: StatusResponse.DatabaseProblem? {
        guard unwritten.failure != nil || !unwritten.isEmpty || unwritten.writing else { return nil }
        return StatusResponse.DatabaseProblem(error: unwritten.failure?.message, since: unwritten.failure?.since,
                            unwrittenRunEnds: unwritten.ends.count, unwrittenJobStates: unwritten.jobs.count,
                            unwrittenSkippedRuns: unwritten.skips.count)
    }

    /// A service's supervision: its state, its process, and its starts against `restart_limit`.
    public func serviceStatus(_ job: String) -> ServiceStatus? {
        guard let entry = jobs[job], entry.spec.isService else { return nil }
        let limit = entry.spec.effectiveRestartLimit
        let interval: Duration
        let burst: Int?
        switch limit {
        case .none: (interval, burst) = (.seconds(3600), nil)
        case let .limited(b, i): (interval, burst) = (i, b)
        }
        let window = Double(interval.milliseconds) / 1000
        let now = clock.now()
        let running = active.values.first { $0.record.job == job }
        let state = serviceState(job)
        return ServiceStatus(
            state: state.state, reason: state.reason,
            pid: running?.record.pid, upSince: running?.record.startedAt,
            startsInWindow: entry.serviceStarts.filter { now.timeIntervalSince($0) <= window }.count,
            burst: burst, windowSeconds: interval.milliseconds / 1000,
            // Held by another node, its timer here is the next ask to take it over, no restart.
            restartAt: servicesHeldElsewhere[job] != nil ? nil
                : timers.filter { $0.request.spec.name == job && $0.request.trigger == .restart }.map(\.due).min())
    }

    /// How many runs of each job wait for a worker (jobs with none are absent).
    public func waitingRuns() -> [String: Int] { pool.waitingCounts }

    /// Why a run of each job (services aside: their state says it) waits to start, for what it
    /// is ordered after or requires: "after load, whose run has not ended".
    public func heldRuns() -> [String: String] {
        var reasons: [String: String] = [:]
        for waiting in held where !waiting.request.spec.isService && reasons[waiting.request.spec.name] == nil {
            if let blocker = blocker(for: waiting.request.spec) { reasons[waiting.request.spec.name] = blocker.text }
        }
        return reasons
    }

    /// The job's next retry that has not started: waiting for its time, for a worker, or for
    /// what the job requires. (In cluster mode, this node's; `pendingRetryInCluster` looks at
    /// every node's.)
    public func pendingRetry(_ job: String) -> RetryStatus? {
        let node = retryNode
        let retryOfJob = { (request: RunRequest) in request.spec.name == job && request.trigger == .retry }
        if let timer = (timers + retriesAfterRun).filter({ retryOfJob($0.request) }).min(by: { $0.due < $1.due }) {
            return RetryStatus(attempt: timer.request.attempt, dueAt: timer.due, retryOf: timer.request.retryOf, node: node)
        }
        // Due, and waiting for a worker or for what the job requires.
        if let request = pool.firstQueued(where: retryOfJob) ?? held.first(where: { retryOfJob($0.request) })?.request {
            return RetryStatus(attempt: request.attempt, dueAt: clock.now(), retryOf: request.retryOf, node: node)
        }
        return nil
    }

    /// The node a retry of this node waits on, as `RetryStatus` says it: none for one daemon.
    var retryNode: String? { store.sharedByNodes ? configuration.node : nil }

    /// The job's next retry that has not started, on this node or, in cluster mode, on
    /// another (the one due soonest there): what `schedctl show` says on any node.
    package func pendingRetryInCluster(_ job: String) async throws -> RetryStatus? {
        if let here = pendingRetry(job) { return here }
        guard store.sharedByNodes else { return nil }
        return try await store.retriesElsewhere(job: job).first
    }

    /// The runs going on now.
    public func activeRuns() -> [RunRecord] {
        active.values.map(\.record).sorted { $0.id < $1.id }
    }

    /// What an active run has printed so far (the kept tail, and the count of every byte);
    /// `nil` once it has ended, when its output is in its row.
    public func liveOutput(runID: Int64) -> OutputTail? {
        active[runID]?.output.snapshot
    }
}

extension JobScheduler {
    /// Validates and applies a job file (its text), then starts using it: the embedding
    /// program's way to define jobs. Handler names are checked against the registered handlers.
    @discardableResult
    public func apply(jobFile text: String, prune: Bool = false) async throws -> ApplyResult {
        try await apply(data: Array(text.utf8), prune: prune, dryRun: false)
    }

    /// The same for a file's bytes, with a dry run that only reports what would change.
    /// `origin` says who applies it; with `protectedFile` (the daemon's `--config`) jobs that
    /// file owns are refused, and a prune removes only the API's jobs.
    public func apply(data: [UInt8], prune: Bool, dryRun: Bool, origin: JobOrigin = .api(), protectedFile: String? = nil) async throws -> ApplyResult {
        var context = ValidationContext.currentProcess
        context.handlers = handlerNames
        let names = try await store.jobNames()
        if prune {
            // What the prune leaves: jobs of other kinds of owner, and those outside the
            // caller's scope (another user's, or the admins' for a user).
            let kept = try await store.jobNames(keptByPruneOf: .api, protectedFile: protectedFile)
            context.existingJobs = kept.union(names.filter { !JobChangePlan.inScope($0, of: origin) })
        } else {
            context.existingJobs = names
        }
        try await dependencyGraph().fill(&context)
        let file = try JobFile(data: data, context: context)
        var result = try await store.applyJobs(file, prune: prune, dryRun: dryRun, now: clock.now(), source: nil, origin: origin,
                                               protectedFile: protectedFile)
        if !dryRun { await definitionsChanged() }
        result.brokenReferences = await brokenReferences(after: result, file: file, owner: origin.owner)
        result.warnings = (result.warnings ?? []) + (await startWarnings(file, result) ?? [])
        if result.warnings!.isEmpty { result.warnings = nil }
        return result
    }

    /// Applies a job file from disk (the daemon's `--config`, on start, SIGHUP and
    /// `schedctl reload`); with `prune`, the file is the whole set of the jobs files own.
    /// Before `run()`, the jobs are only written: the engine loads them when it starts.
    @discardableResult
    public func apply(_ loader: JobFileLoader, prune: Bool = false, dryRun: Bool = false) async throws -> ApplyResult {
        var (result, file) = try await loader.applyReading(to: store, prune: prune, dryRun: dryRun, now: clock.now()) { try await self.dependencyGraph() }
        if !dryRun { await definitionsChanged() }
        result.brokenReferences = await brokenReferences(after: result, file: file, owner: nil)
        result.warnings = (result.warnings ?? []) + (await startWarnings(file, result) ?? [])
        if result.warnings!.isEmpty { result.warnings = nil }
        return result
    }

    /// The jobs a change created or changed (or would) whose runs cannot start on this machine
    /// as things stand (`JobWarning`), logged unless it is a dry run. A job pinned to another
    /// node is that node's to run.
    func startWarnings(_ file: JobFile?, _ result: ApplyResult) async -> [JobWarning]? {
        guard let file else { return nil }
        let changed = Set(result.created + result.updated)
        let node = configuration.node
        let specs = file.jobs.filter { changed.contains($0.name) && ($0.node == nil || $0.node == node) }
        guard !specs.isEmpty else { return nil }
        let warnings = await BlockingWork.run {
            specs.flatMap { spec in CommandExecutor.startProblems(of: spec).map { JobWarning(job: spec.name, message: $0) } }
        }
        if !result.dryRun {
            for warning in warnings {
                logger.warning("a job's runs cannot start as things stand", metadata: ["schedd.job": "\(warning.job)", "schedd.problem": "\(warning.message)"])
            }
        }
        return warnings.isEmpty ? nil : warnings
    }

    /// The jobs outside a change (not in its file, not removed by it) that name a job it
    /// removes, or `require` a service it makes a plain job (or, for a dry run, would): the
    /// change is made all the same (those jobs are not the file's to change), and this tells
    /// of them. Only `owner`'s jobs, for a user's change. A dry run needs the `file` (the
    /// store does not hold its definitions yet).
    func brokenReferences(after result: ApplyResult, file: JobFile?, owner: String?) async -> [BrokenReference]? {
        let changed = Set(result.removed + result.updated)
        guard !changed.isEmpty else { return nil }
        let removed = Set(result.removed)
        let inFile = Set(result.created + result.updated + result.unchanged)
        let infos: [JobInfo]
        do {
            infos = try await store.jobs()
        } catch {
            logger.error("cannot read the jobs to tell which name a job this change removed or changed", metadata: ["schedd.error": "\(error)"])
            return nil
        }
        var specs: [String: JobSpec] = [:]
        for info in infos where info.problem == nil { specs[info.name] = info.spec }
        let invalid = Set(infos.filter { $0.problem != nil }.map(\.name))
        if result.dryRun, let file {
            for spec in file.jobs { specs[spec.name] = spec }
        }
        for name in removed { specs[name] = nil }
        let broken = specs.values.filter { spec in
            !inFile.contains(spec.name) && !removed.contains(spec.name) && (owner == nil || JobOwner.owner(of: spec.name) == owner)
        }.sorted { $0.name < $1.name }.flatMap { spec in
            BrokenReference.of(spec, among: changed, exists: { specs[$0] != nil || invalid.contains($0) }, isService: { specs[$0]?.isService })
        }
        return broken.isEmpty ? nil : broken
    }

    /// The services and dependencies of the jobs as they stand, for validating a change: from
    /// memory once the engine has loaded them, from the store before.
    func dependencyGraph() async throws -> DependencyGraph {
        var graph = DependencyGraph()
        if loaded {
            for (name, entry) in jobs { graph.add(name, entry.spec) }
        } else {
            for info in try await store.jobs() where info.problem == nil { graph.add(info.name, info.spec) }
        }
        return graph
    }

    /// Takes in changed definitions. Before `run()` nothing is loaded yet (it loads them when
    /// it starts), and after it ends nothing runs.
    func definitionsChanged() async {
        if entered && !ended { await reloadJobs() }
    }

    /// Removes a job (its run history stays); its active runs go on. Refused while another job
    /// triggers it, and, with `protectedFile`, when that file owns it.
    /// Returns the runs of it that go on here to their end (a service's is stopped).
    @discardableResult
    public func removeJob(named name: String, protectedFile: String? = nil) async throws -> [Int64] {
        try await store.removeJob(named: name, protectedFile: protectedFile)
        await definitionsChanged()
        return active.values.filter { $0.record.job == name && $0.control.reason == nil && stopQueue[name] == nil }.map(\.record.id).sorted()
    }

    /// Deletes finished runs beyond the newest `keepPerJob` of each job and those started
    /// before `olderThan` (`HistoryRetention`); returns how many went.
    public func pruneHistory(keepPerJob: Int?, olderThan: Date?) async throws -> Int {
        try await store.pruneHistory(keepPerJob: keepPerJob, olderThan: olderThan)
    }

    /// Pauses a job by name (`schedctl pause`). A scheduled job's active run goes on; a
    /// service is stopped (SIGTERM, `kill_grace`, SIGKILL) and stays down until resumed.
    public func pauseJob(_ job: String, by caller: String? = nil) async throws {
        guard let entry = jobs[job] else { throw APIError(.notFound, "no job named \"\(job)\"") }
        await pause(job)
        if entry.spec.isService {
            stopAfterDependents(job, "paused by schedctl", by: caller)
            stopStarting(job, "paused by schedctl", by: caller)
        }
    }

    /// Stops a running service after what requires it, as `schedctl stop` does (it was
    /// stopped first, and what required it lost it while still running).
    func stopAfterDependents(_ job: String, _ reason: String, by caller: String? = nil) {
        guard active.values.contains(where: { $0.record.job == job && $0.control.reason == nil }) else { return }
        stopDependents(of: job)
        stopQueue[job] = ServiceStop(reason, by: caller)
        store.changes.bump()
        wakeup.signal()
    }

    /// The newest run of a job, optionally only one with the given status.
    public func lastRun(of job: String, status: RunStatus? = nil) async throws -> RunRecord? {
        try await store.history(HistoryQuery(job: job, status: status, limit: 1), withOutput: true).first
    }
}
