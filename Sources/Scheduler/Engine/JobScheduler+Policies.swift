import Foundation
import Logging
import SchedulerAPI

extension JobScheduler {
    /// Marks or clears runs' pending retries in the store; a failure is logged (the retry
    /// itself goes on in memory).
    func setRetries(_ marks: [(runID: Int64, due: Date?)]) async {
        do {
            try await store.setRetries(marks)
        } catch {
            logger.error("cannot record (or clear) a pending retry in the database", metadata: [
                "schedd.run_id": "\(marks.map(\.runID))", "schedd.error": "\(error)",
            ])
        }
    }

    /// Marks a run's retry as pending: for `node` (a node the job is pinned to), or else for
    /// this engine's.
    func markRetry(_ run: RunRecord, due: Date, onNode node: String?) async {
        guard let node else {
            await setRetries([(run.id, due)])
            return
        }
        do {
            try await store.setRetry(runID: run.id, due: due, onNode: node)
        } catch {
            logger.error("cannot record a pending retry in the database", metadata: [
                "schedd.job": "\(run.job)", "schedd.run_id": .stringConvertible(run.id), "schedd.error": "\(error)",
            ])
        }
    }

    /// Whether a run that ended while the engine stopped, with no retry, leaves its trigger's
    /// final result for the next start: a failure (counted, perhaps pausing its job, and
    /// followed by `on_failure`), or a success that triggers `on_success` or sets a count of
    /// failures back to 0. Not a run the shutdown stopped (`cancelled`, as one cancelled by
    /// hand: its retry, if it has one, is its only follow-up), nor a service's.
    func leavesFinalResult(_ request: RunRequest, _ run: RunRecord, failuresResetWithEnd: Bool) -> Bool {
        guard let entry = jobs[run.job], !request.spec.isService, !entry.spec.isService else { return false }
        if run.status.isFailure { return true }
        guard run.status == .succeeded else { return false }
        return entry.spec.onSuccess != nil || (!failuresResetWithEnd && (store.sharedByNodes || entry.state.consecutiveFailures > 0))
    }

    /// Whether a run that ends now, with the retry decided for it (if any), leaves its final
    /// result for the next start: the engine stops, no retry follows, and `leavesFinalResult`.
    func defersFinalResult(_ request: RunRequest, _ run: RunRecord, retryDue: Date?, failuresResetWithEnd: Bool) -> Bool {
        stopping && retryDue == nil && leavesFinalResult(request, run, failuresResetWithEnd: failuresResetWithEnd)
    }

    /// Marks runs whose final result the next start applies; a failure is logged (that result
    /// is then not applied: the run's row, its end, is written).
    func setPoliciesPending(_ runIDs: [Int64]) async {
        do {
            try await store.setPoliciesPending(runIDs, true)
        } catch {
            logger.error("cannot record that a run's final result waits for the next start; it is not applied", metadata: [
                "schedd.run_id": "\(runIDs)", "schedd.error": "\(error)",
            ])
        }
    }

    /// Applies the final results that runs which ended while schedd stopped left for this
    /// start (`leavesFinalResult`, `applyFinalResults`).
    func applyPendingPolicies() async {
        let pending: [RunRecord]
        do {
            pending = try await store.pendingPolicies()
        } catch {
            if !Task.isCancelled {
                logger.error("cannot read the final results of runs that ended while schedd stopped; they are not applied",
                             metadata: ["schedd.error": "\(error)"])
            }
            return
        }
        await applyFinalResults(pending)
    }

    /// Applies the final results of runs that ended while their engine stopped, whose marks
    /// are this engine's (its own, or taken over from a node that is down), oldest first, as
    /// if each run had ended now: its job's failures in a row, a pause at
    /// `max_consecutive_failures`, `on_failure` or `on_success` (by the job's definition now).
    /// The marks are cleared once all are applied: a crash in between applies them again at
    /// the next start. While this engine stops, they stay marked for its next start.
    func applyFinalResults(_ pending: [RunRecord]) async {
        guard !pending.isEmpty, !stopping else { return }
        for run in pending {
            guard let entry = jobs[run.job], !entry.spec.isService else { continue }
            logger.notice("a run ended while schedd stopped; its final result is applied now", metadata: [
                "schedd.job": "\(run.job)", "schedd.run_id": .stringConvertible(run.id), "schedd.status": "\(run.status.rawValue)",
            ])
            await afterRun(await request(resuming: run, entry, trigger: run.trigger, attempt: run.attempt), run, retryDue: .some(nil))
        }
        do {
            try await store.setPoliciesPending(pending.map(\.id), false)
        } catch {
            logger.error("cannot clear the marks of final results applied; they are applied again at the next start", metadata: [
                "schedd.run_id": "\(pending.map(\.id))", "schedd.error": "\(error)",
            ])
        }
    }

    /// When the retry of a run that just ended is due, or nil when none follows: it failed
    /// with attempts left, and its job is still there and still no service. With
    /// `stoppedAtShutdown` (the run was stopped by schedd's shutdown), due at once.
    func retryDue(_ request: RunRequest, _ run: RunRecord, stoppedAtShutdown: Bool = false) -> Date? {
        guard let entry = jobs[run.job], !request.spec.isService, !entry.spec.isService,
              run.status.isFailure || stoppedAtShutdown, request.attempt <= request.spec.effectiveRetries else { return nil }
        // An `@reboot` job runs at the next start anyway, which takes the retry's place (as
        // after a crash): a retry beside it would be skipped, or run it twice.
        if stopping && entry.schedule == .reboot { return nil }
        if stoppedAtShutdown { return clock.now() }
        let spec = request.spec
        let delay = RetryPolicy.retryDelay(afterAttempt: request.attempt, base: spec.effectiveRetryBackoff,
                                           maximum: spec.effectiveRetryBackoffMax, random: random())
        return clock.now().addingTimeInterval(Double(delay.milliseconds) / 1000)
    }

    /// What follows a run's end by its job's policy: a retry of a failed attempt while it has
    /// retries left, else the trigger's final result counted (`max_consecutive_failures`) and
    /// followed by `on_failure` or `on_success`. With `retryNode` (cluster mode: the job is
    /// pinned to that node, which is down) the retry is marked for that node, which takes it
    /// up when it is back, and nothing runs here.
    /// `retryDue`, when given, is the retry already decided (`retryDue(_:_:)`) and told;
    /// `markedWithEnd`: its mark went into the store with the run's end (`RunOutcome.retryAt`).
    /// `failuresResetWithEnd`: the end, a success, set the job's failures in a row back to 0 in
    /// a shared store (`RunOutcome.resetsFailuresInARow`). `finalResultMarkedWithEnd`: the
    /// end's write marked its final result for the next start (`RunOutcome.leavesFinalResult`).
    /// While the engine stops, the final result is left for the next start to apply
    /// (`leavesFinalResult`, `applyPendingPolicies`): a follow-up run cannot start now.
    func afterRun(_ request: RunRequest, _ run: RunRecord, retryNode: String? = nil, retryDue decided: Date?? = nil,
                  markedWithEnd: Bool = false, failuresResetWithEnd: Bool = false, finalResultMarkedWithEnd: Bool = false,
                  pauseAnnounced: Bool = false) async {
        let marked = markedWithEnd && (decided ?? nil) != nil
        guard !stopping, var entry = jobs[run.job] else {
            // A job removed while its run's end was written: the retry's mark goes too. (A
            // shutdown keeps it: the next start takes the retry up.)
            guard stopping else {
                if marked { await setRetries([(run.id, nil)]) }
                return
            }
            if let due = decided ?? nil {
                // A retry decided as the engine stops and not marked with the run's end (a run
                // lost with another node, taken over now): marked, for the next start (or the
                // node that takes this one's retries over once it has left).
                if !marked { await markRetry(run, due: due, onNode: retryNode) }
            } else if !finalResultMarkedWithEnd, leavesFinalResult(request, run, failuresResetWithEnd: failuresResetWithEnd) {
                // Decided after its end was written (the engine began stopping meanwhile, or
                // the end was written by another way): marked now.
                await setPoliciesPending([run.id])
            }
            return
        }
        let spec = request.spec
        if spec.isService {
            await afterServiceRun(request, run, entry)
            return
        }
        if entry.spec.isService {
            if marked { await setRetries([(run.id, nil)]) }
            // The job became a service while this run of it went on (`servicesRedefined` left
            // the run to its end): the service starts now.
            if entry.canStart && !entry.stoppedByHand && !isUnderway(run.job) {
                _ = await trigger(run.job, .boot, scheduledAt: nil, force: true)
            }
            return
        }
        if let due = decided ?? retryDue(request, run) {
            if retryNode != nil {
                await markRetry(run, due: due, onNode: retryNode)
                return
            }
            var retry = request
            retry.trigger = .retry
            retry.fire = nil
            retry.attempt += 1
            retry.retryOf = run.id
            // Kept with the run, so that a restart before it is due does not lose it (with its
            // end, or else here). Written before the timer exists: the retry's start, which
            // clears the mark, cannot come first in any store (PostgreSQL's writes take
            // separate connections).
            if !marked { await setRetries([(run.id, due)]) }
            timers.append(Timer(due: due, request: retry))
            wakeup.signal()
            return
        }
        // The trigger's final result.
        var shared: Int?
        if failuresResetWithEnd && run.status == .succeeded {
            shared = 0
        } else if store.sharedByNodes && (run.status.isFailure || run.status == .succeeded) {
            do {
                // A shared store counts the job's failures in a row across its nodes.
                shared = try await store.countRunOutcome(job: run.job, failed: run.status.isFailure)
            } catch {
                logger.error("cannot count the job's failures in a row", metadata: ["schedd.job": "\(run.job)", "schedd.error": "\(error)"])
            }
            // The job as it is now: it may have changed while the count was written.
            guard !stopping, let current = jobs[run.job] else { return }
            entry = current
        }
        let failuresBefore = entry.state.consecutiveFailures
        if let shared {
            entry.state.consecutiveFailures = shared
        } else if run.status.isFailure {
            entry.state.consecutiveFailures += 1
        } else if run.status == .succeeded {
            entry.state.consecutiveFailures = 0
        }
        jobs[run.job] = entry
        let reached = Self.reachesFailureThreshold(spec, entry.state, run.status)
        // `endPausesJob` told it ahead by the same count: the two must agree.
        assert(!pauseAnnounced || reached, "a pause was announced that the run's end did not make")
        if reached {
            logger.warning("job failed too many times in a row; paused", metadata: [
                "schedd.job": "\(run.job)", "schedd.failures": .stringConvertible(entry.state.consecutiveFailures),
            ])
            await pause(run.job, reason: "failure_threshold", announced: pauseAnnounced)
        } else if entry.state.consecutiveFailures != failuresBefore {
            await saveStates([run.job])
        }
        await triggerFollowUp(request, run)
    }

    /// Whether a run's final result, counted into `state`, pauses its job: a failure that
    /// brings the failures in a row to `max_consecutive_failures`.
    static func reachesFailureThreshold(_ spec: JobSpec, _ state: JobState, _ status: RunStatus) -> Bool {
        guard status.isFailure, let threshold = spec.maxConsecutiveFailures, threshold > 0 else { return false }
        return state.consecutiveFailures >= threshold && !state.paused
    }

    /// The job of `run` when what its end leads to is decided here as it is told: a job's
    /// final result (no retry), not while stopping, and on a store this node alone writes (a
    /// shared one counts the failures in a row first, and the job may be gone by then).
    private func decidedAtEnd(_ request: RunRequest, _ run: RunRecord, retryDue: Date?) -> JobEntry? {
        guard !stopping, !store.sharedByNodes, retryDue == nil, !request.spec.isService,
              let entry = jobs[run.job], !entry.spec.isService else { return nil }
        return entry
    }

    /// Whether the end of `run`, about to be told, pauses its job (`afterRun`'s count, made
    /// ahead): so that `jobPaused` can come before `runFinished`, as a retry's word does.
    func endPausesJob(_ request: RunRequest, _ run: RunRecord, retryDue: Date?) -> Bool {
        guard run.status.isFailure, let entry = decidedAtEnd(request, run, retryDue: retryDue) else { return false }
        var state = entry.state
        state.consecutiveFailures += 1
        return Self.reachesFailureThreshold(request.spec, state, run.status)
    }

    /// The job the end of `run`, about to be told, triggers, and the field that names it
    /// (`triggerFollowUp`'s choice, made ahead): so that `followUp` can come before
    /// `runFinished`.
    func endTriggers(_ request: RunRequest, _ run: RunRecord, retryDue: Date?) -> (field: String, target: String)? {
        guard decidedAtEnd(request, run, retryDue: retryDue) != nil, let followUp = Self.followUp(request.spec, run.status),
              !(request.triggerChain + [run.job]).contains(followUp.target) else { return nil }
        return followUp
    }

    /// The job a final result triggers, and the field that names it: `on_failure` for a
    /// failure, `on_success` for a success.
    static func followUp(_ spec: JobSpec, _ status: RunStatus) -> (field: String, target: String)? {
        if status.isFailure { return spec.onFailure.map { ("on_failure", $0) } }
        return status == .succeeded ? spec.onSuccess.map { ("on_success", $0) } : nil
    }

    /// Triggers `on_failure` or `on_success` of the run's job by the run's final result,
    /// unless that would close a cycle of triggers (recorded as a skip).
    func triggerFollowUp(_ request: RunRequest, _ run: RunRecord) async {
        guard let target = Self.followUp(request.spec, run.status)?.target else { return }
        let chain = request.triggerChain + [run.job]
        if chain.contains(target) {
            let cycle = (chain.drop { $0 != target } + [target]).joined(separator: " -> ")
            logger.error("trigger cycle; the job is not triggered again", metadata: [
                "schedd.job": "\(target)", "schedd.run_id": .stringConvertible(run.id), "schedd.cycle": "\(cycle)",
            ])
            var skip = RunSkip(job: target, trigger: .dependency, scheduledAt: nil, at: clock.now(),
                               reason: "skipped: trigger cycle \(cycle) (on_failure/on_success): each run would trigger the next without end")
            skip.triggeredByRun = run.id
            await record([skip])
            return
        }
        await self.trigger(target, .dependency, scheduledAt: nil, extraEnvironment: [
            "SCHEDD_TRIGGERED_BY_JOB": run.job, "SCHEDD_TRIGGERED_BY_RUN": String(run.id),
            "SCHEDD_TRIGGERED_BY_STATUS": run.status.rawValue,
        ], triggerChain: chain, triggeredByRun: run.id)
    }

    /// A service's run has ended: it is started again (at once for `schedctl restart`, after
    /// its restart delay by its restart rule), waits for what it requires, or stays down, and
    /// then what requires it is stopped.
    func afterServiceRun(_ request: RunRequest, _ run: RunRecord, _ ended: JobEntry) async {
        var entry = ended
        // The definition as it is now, not as the run started: a reload may have changed it
        // since (a restart ran the old command), or made the job no service at all.
        let spec = entry.spec
        let now = clock.now()
        defer { store.changes.bump() }
        if entry.readyRunID == run.id { entry.readyRunID = nil }
        guard spec.isService else {
            entry.restartRequested = nil
            jobs[run.job] = entry
            stopDependents(of: run.job)
            return
        }
        let upFor = (run.finishedAt ?? now).timeIntervalSince(run.startedAt)
        if upFor >= Double(spec.effectiveRestartResetAfter.milliseconds) / 1000 { entry.restartStreak = 0 }
        let startAgain = RunRequest(spec: entry.sharedSpec, trigger: .restart, attempt: 1, scheduledAt: nil, extraEnvironment: [:])
        if let restart = entry.restartRequested, entry.canStart && !entry.stoppedByHand {
            entry.restartRequested = nil
            entry.restartStreak = 0
            jobs[run.job] = entry
            var again = startAgain
            if case let .byHand(caller) = restart {
                again.trigger = .manual
                again.triggeredBy = caller
            }
            if let skip = admit(again) { await record([skip]) }
            return
        }
        entry.restartRequested = nil
        if entry.downBecause != nil && entry.canStart && !entry.stoppedByHand {
            // Stopped for what it requires: it starts again once that is ready.
            jobs[run.job] = entry
            if let skip = admit(startAgain) { await record([skip]) }
            stopDependents(of: run.job)
            return
        }
        let restart = spec.restart == .always ? run.status != .cancelled : run.status.isFailure
        guard restart, entry.canStart, !entry.stoppedByHand else {
            jobs[run.job] = entry
            stopDependents(of: run.job)
            // Done by its rule (restart: on-failure, and it succeeded): its final result.
            if !restart && run.status == .succeeded && !entry.stoppedByHand { await triggerFollowUp(request.withSpec(entry.sharedSpec), run) }
            return
        }
        if case let .limited(burst, interval) = spec.effectiveRestartLimit {
            let window = Double(interval.milliseconds) / 1000
            entry.serviceStarts.removeAll { now.timeIntervalSince($0) > window }
            if entry.serviceStarts.count >= burst {
                jobs[run.job] = entry
                logger.error("service restarted too often; it is now failed until resumed", metadata: [
                    "schedd.job": "\(run.job)", "schedd.starts": .stringConvertible(entry.serviceStarts.count),
                ])
                await pause(run.job, reason: "restart_limit")
                stopDependents(of: run.job)
                // Failed for good, until resumed: its final result (a crash it restarts from
                // is not one, as systemd's OnFailure= waits for the start limit).
                await triggerFollowUp(request.withSpec(entry.sharedSpec), run)
                return
            }
        } else {
            // No limit: only the window of `status` needs the starts; keep the list short.
            entry.serviceStarts.removeAll { now.timeIntervalSince($0) > 3600 }
        }
        entry.restartStreak += 1
        jobs[run.job] = entry
        let delay = RetryPolicy.restartDelay(base: spec.effectiveRestartDelay, streak: entry.restartStreak,
                                             maximum: spec.effectiveRestartDelayMax)
        timers.append(Timer(due: now.addingTimeInterval(Double(delay.milliseconds) / 1000), request: startAgain))
    }
}
