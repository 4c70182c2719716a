import Foundation
import Logging
import SchedulerAPI

/// Order, requirements and readiness: what a run waits for before it starts, what a service
/// is doing, and the order in which services stop.
extension JobScheduler {
    /// A run that waits for what it is ordered after or requires. A service waits as long as it
    /// takes; a job's run until `requires_wait` is over (then it is recorded `skipped`).
    struct HeldRun {
        var request: RunRequest
        var deadline: Date?
    }

    /// Why a run cannot start yet.
    enum Blocker {
        /// A service it `requires` is not ready.
        case requires(String)
        /// A job it is ordered `after` is starting (a service not yet ready, a job's run going on).
        case after(String)

        var text: String {
            switch self {
            case let .requires(text), let .after(text): return text
            }
        }
    }

    // MARK: - What a run waits for

    /// What keeps a run of `spec` from starting now, if anything.
    func blocker(for spec: JobSpec) -> Blocker? {
        for name in spec.requires ?? [] where !isReady(name) {
            return .requires("requires \(name), which \(describe(name))")
        }
        for name in spec.after ?? [] where isStarting(name) {
            guard let target = jobs[name] else { continue }
            return .after(target.spec.isService ? "after \(name), which is starting" : "after \(name), whose run has not ended")
        }
        return nil
    }

    /// Jobs to start together, each after those of them it requires or is ordered after, else
    /// by name: started by name alone, `app` was held at every boot "requires db, which is
    /// stopped", db not asked for yet.
    func inStartOrder(_ names: some Collection<String>) -> [String] {
        let among = Set(names)
        var visited: Set<String> = []
        var order: [String] = []
        order.reserveCapacity(among.count)
        // Depth first; a cycle (refused at validation) cannot loop: a name is visited once.
        func visit(_ name: String) {
            guard visited.insert(name).inserted else { return }
            for other in (jobs[name]?.spec.dependencies ?? []).sorted() where among.contains(other) { visit(other) }
            order.append(name)
        }
        for name in among.sorted() { visit(name) }
        return order
    }

    /// Whether `name` is a service whose active run has passed its readiness and is not
    /// being stopped.
    func isReady(_ name: String) -> Bool {
        guard let runID = jobs[name]?.readyRunID, stopQueue[name] == nil else { return false }
        return active[runID] != nil
    }

    /// Whether `name` is on its way: for a service, started and not yet ready, or about to
    /// start; for a job, a run going on or about to start. A run whose start is being written
    /// has left the pool and is not active yet: it is about to start.
    func isStarting(_ name: String) -> Bool {
        guard let entry = jobs[name] else { return false }
        if pool.queued(job: name) > 0 || startingJobs[name] != nil || held.contains(where: { $0.request.spec.name == name }) { return true }
        let running = active.values.contains { $0.record.job == name }
        return entry.spec.isService ? running && !isReady(name) : running
    }

    /// The state of a job that something waits for, as the end of a sentence ("requires db,
    /// which is restarting").
    func describe(_ name: String) -> String {
        guard let entry = jobs[name] else { return "does not exist" }
        guard entry.spec.isService else { return "is not a service" }
        let state = serviceState(name)
        return "is " + state.state + (state.reason.map { " (\($0))" } ?? "")
    }

    /// A service's state for `list` and `show`, and why it is in it.
    func serviceState(_ name: String) -> (state: String, reason: String?) {
        guard let entry = jobs[name] else { return ("removed", nil) }
        if !entry.spec.isEnabled { return ("disabled", nil) }
        if entry.state.paused {
            return entry.state.pauseReason == "restart_limit" ? ("failed", "restart_limit") : ("paused", entry.state.pauseReason)
        }
        if let run = active.values.first(where: { $0.record.job == name }) {
            if let stop = stopQueue[name] { return ("stopping", Self.stateReason(stop.reason)) }
            return entry.readyRunID == run.record.id ? ("ready", nil) : ("starting", nil)
        }
        // Its start row is being written: out of the pool, not active yet.
        if startingJobs[name] != nil { return entry.stoppedByHand ? ("stopping", "by schedctl") : ("starting", nil) }
        if entry.stoppedByHand { return ("stopped", "by schedctl") }
        if let waiting = held.first(where: { $0.request.spec.name == name }) {
            return ("waiting", blocker(for: waiting.request.spec)?.text ?? entry.downBecause)
        }
        if pool.queued(job: name) > 0 { return ("starting", nil) }
        if let due = timers.filter({ $0.request.spec.name == name && $0.request.trigger == .restart }).map(\.due).min() {
            if let holder = servicesHeldElsewhere[name] { return ("elsewhere", "runs on node \(holder)") }
            let ms = max(0, Int64(due.timeIntervalSince(clock.now()) * 1000))
            return ("restarting", "in \(DurationText.format(milliseconds: ms))")
        }
        if let why = entry.downBecause { return ("waiting", why) }
        return ("stopped", nil)
    }

    /// Why a service stops, after its state: the reason recorded with its run ("stopped by
    /// schedctl", "stopped: requires db, …") without the word the state already says.
    static func stateReason(_ reason: String) -> String {
        if reason.hasPrefix("stopped: ") { return String(reason.dropFirst("stopped: ".count)) }
        if reason.hasPrefix("stopped ") { return String(reason.dropFirst("stopped ".count)) }
        return reason
    }

    /// The state of every service, for `list`.
    public func serviceStates() -> [String: (state: String, reason: String?)] {
        var states: [String: (state: String, reason: String?)] = [:]
        for (name, entry) in jobs where entry.spec.isService { states[name] = serviceState(name) }
        return states
    }

    // MARK: - Admitting and holding runs

    /// Queues a run for a worker, holds it until what it waits for is there, or returns the
    /// skip to record (a job whose requirement is not ready and that may not wait for it).
    func admit(_ request: RunRequest) -> RunSkip? {
        guard !stopping else { return nil }
        guard let blocker = blocker(for: request.spec) else {
            enqueue(request)
            return nil
        }
        let now = clock.now()
        var deadline: Date?
        if !request.spec.isService, case .requires = blocker {
            let wait = request.spec.effectiveRequiresWait
            guard wait > .zero else {
                return request.skip(at: now, reason: "skipped: \(blocker.text)")
            }
            deadline = now.addingTimeInterval(Double(wait.milliseconds) / 1000)
        }
        guard held.count < configuration.maxQueued else {
            return request.skip(at: now, reason: "skipped: \(held.count) runs already wait for what they require (the most schedd holds)")
        }
        logger.info("run waits", metadata: ["schedd.job": "\(request.spec.name)", "schedd.reason": "\(blocker.text)"])
        held.append(HeldRun(request: request, deadline: deadline))
        store.changes.bump()
        // The main loop may be asleep until a later time than this run's deadline.
        wakeup.signal()
        return nil
    }

    /// Starts the held runs that wait for nothing any more, and returns the skips of those
    /// whose `requires_wait` is over (or that may not wait), each with whoever waits for its
    /// start, who is told once its row is written (`recordHeldSkips`).
    func releaseHeld() -> [(skip: RunSkip, signal: RunStartSignal?)] {
        guard !held.isEmpty else { return [] }
        let now = clock.now()
        var skips: [(skip: RunSkip, signal: RunStartSignal?)] = []
        var kept: [HeldRun] = []
        var changed = false
        for var waiting in held {
            guard let entry = jobs[waiting.request.spec.name], !stopping else {
                waiting.request.startSignal?.drop(stopping ? "schedd is shutting down" : "the job was removed")
                changed = true
                continue
            }
            // The definition as it is now: a service can wait for what it requires for as long
            // as it takes, and a reload meanwhile would have started the old one.
            if entry.sharedSpec !== waiting.request.sharedSpec { waiting.request = waiting.request.withSpec(entry.sharedSpec) }
            let request = waiting.request
            guard let blocker = blocker(for: request.spec) else {
                changed = true
                enqueue(request)
                continue
            }
            if !request.spec.isService, case .requires = blocker {
                let wait = request.spec.effectiveRequiresWait
                if waiting.deadline == nil && wait > .zero {
                    // Held for its order first; its requirement's wait starts now.
                    waiting.deadline = now.addingTimeInterval(Double(wait.milliseconds) / 1000)
                }
                if waiting.deadline.map({ $0 <= now }) ?? true {
                    let waited = wait > .zero ? " (waited \(DurationText.format(milliseconds: wait.milliseconds)), requires_wait)" : ""
                    skips.append((request.skip(at: now, reason: "skipped: \(blocker.text)\(waited)"), request.startSignal))
                    changed = true
                    continue
                }
            }
            kept.append(waiting)
        }
        held = kept
        if changed { store.changes.bump() }
        return skips
    }

    /// Records the skips of held runs that waited in vain; `schedctl run` of one gets its
    /// skipped row, as a run skipped at once gives it.
    func recordHeldSkips(_ skips: [(skip: RunSkip, signal: RunStartSignal?)]) async {
        guard !skips.isEmpty else { return }
        let records = await record(skips.map(\.skip))
        for (index, held) in skips.enumerated() {
            if index < records.count { held.signal?.skipped(records[index]) } else { held.signal?.drop(held.skip.reason) }
        }
    }

    /// Drops the held runs of `job`, and returns them; whoever waits for one hears `reason`.
    @discardableResult
    func dropHeld(job: String, reason: String) -> [RunRequest] {
        var dropped: [RunRequest] = []
        held.removeAll { waiting in
            guard waiting.request.spec.name == job else { return false }
            waiting.request.startSignal?.drop(reason)
            dropped.append(waiting.request)
            return true
        }
        return dropped
    }

    // MARK: - Readiness

    /// Watches a service's run until it is ready: it has run for `ready_after`, or its
    /// `ready_check` has passed. One not ready within `ready_timeout` is stopped as a failed
    /// start. Ends when the run does (the caller cancels it).
    nonisolated func watchReadiness(_ run: BegunRun) async {
        let spec = run.request.spec
        guard let check = spec.readyCheck else {
            do {
                try await clock.sleep(for: spec.effectiveReadyAfter)
            } catch {
                return
            }
            await serviceReady(runID: run.record.id)
            return
        }
        let timeout = spec.effectiveReadyTimeout
        let deadline = clock.now().addingTimeInterval(Double(timeout.milliseconds) / 1000)
        var checkSpec = spec
        checkSpec.action = check
        checkSpec.outputLimit = 4096
        var attempt = 0
        var last: ExecutionOutcome?
        while !Task.isCancelled {
            attempt += 1
            let remaining = Duration.milliseconds(max(1, Int64(deadline.timeIntervalSince(clock.now()) * 1000)))
            // Tracked apart from the service (its processes are swept when the check ends, the
            // service's are not): the check's marker is the run id negated.
            let request = ExecutionRequest(spec: checkSpec, runID: -run.record.id, attempt: attempt, node: configuration.node, logger: run.logger)
            let end = await Self.attempt(executor: commands, request: request, timeout: remaining, clock: clock, timeouts: timeouts, control: RunControl())
            await sweeper.sweep(job: spec.name, runID: -run.record.id, grace: spec.effectiveKillGrace)
            _ = await sweeper.finish(runID: -run.record.id)
            if Task.isCancelled { return }
            if case let .finished(outcome) = end {
                if outcome.succeeded {
                    await serviceReady(runID: run.record.id)
                    return
                }
                last = outcome
            }
            let left = deadline.timeIntervalSince(clock.now())
            if left <= 0 {
                let limit = DurationText.format(milliseconds: timeout.milliseconds)
                var why = "not ready within \(limit) (ready_timeout): the ready_check did not pass"
                switch last?.ending {
                case let .exited(code)?: why += " (it last exited with status \(code))"
                case let .failed(message)?: why += " (\(message))"
                default: break
                }
                run.logger.warning("service not ready in time; stopped as a failed start", metadata: [
                    "schedd.check_output": "\(last?.output.suffix(500) ?? "")",
                ])
                run.control.cancel(why, status: .failed)
                return
            }
            let pause = min(Double(spec.effectiveReadyInterval.milliseconds) / 1000, left)
            do {
                try await clock.sleep(for: .milliseconds(Int64(pause * 1000)))
            } catch {
                return
            }
        }
    }

    /// A service's run has passed its readiness: what waits for it may start.
    func serviceReady(runID: Int64) {
        guard let run = active[runID], var entry = jobs[run.record.job], entry.spec.isService else { return }
        entry.readyRunID = runID
        entry.downBecause = nil
        jobs[run.record.job] = entry
        logger.info("service ready", metadata: ["schedd.job": "\(run.record.job)", "schedd.run_id": .stringConvertible(runID)])
        store.changes.bump()
        wakeup.signal()
    }

    // MARK: - Stopping in order

    /// `name` is down and not coming back by itself (failed, paused, stopped, or exited for
    /// good): every service that requires it, directly or not, is stopped, dependents first,
    /// and waits for it to be ready again.
    func stopDependents(of name: String) {
        var reasons: [String: String] = [:]
        var frontier = [name]
        while let current = frontier.popLast() {
            for (other, entry) in jobs where entry.spec.isService && reasons[other] == nil && other != name
                && (entry.spec.requires ?? []).contains(current) {
                reasons[other] = "requires \(current), which " + (current == name ? describe(name) : "is down (it requires \(name))")
                frontier.append(other)
            }
        }
        for (other, reason) in reasons {
            jobs[other]?.downBecause = reason
            guard active.values.contains(where: { $0.record.job == other }) else { continue }
            logger.warning("service stopped: what it requires is down", metadata: ["schedd.job": "\(other)", "schedd.reason": "\(reason)"])
            if stopQueue[other] == nil { stopQueue[other] = ServiceStop("stopped: \(reason)") }
        }
        if !reasons.isEmpty {
            store.changes.bump()
            wakeup.signal()
        }
    }

    /// Stops the services asked to stop whose dependents have stopped: nothing that is ordered
    /// after a service or requires it, and is being stopped too, is left running when it stops
    /// (on shutdown, every run counts).
    func stopInOrder() {
        guard !stopQueue.isEmpty else { return }
        var needed = Set<String>()
        for run in active.values where stopping || stopQueue[run.record.job] != nil {
            needed.formUnion(jobs[run.record.job]?.spec.dependencies ?? [])
        }
        // A service stays in the queue until its run has ended (`recordEnds`): its own
        // dependencies wait for it meanwhile. Cancelling again changes nothing.
        for (name, stop) in stopQueue where !needed.contains(name) {
            for run in active.values where run.record.job == name { run.control.cancel(stop.reason, by: stop.by) }
        }
    }
}
