import Foundation
import Logging
import SchedulerAPI

/// Cluster mode's queue of slots (a store whose `queuesSlots` is true): the slots this node
/// fires go into the store once, for whichever node has a free worker, and this node claims
/// slots as its workers free up, woken by the other nodes (`nudgeQueue`) or by its poll.
extension JobScheduler {
    /// Tells the engine that slots may be waiting in the queue (another node queued some).
    package nonisolated func nudgeQueue() {
        queueNudged.set()
        wakeup.signal()
    }

    /// Whether a slot of this job goes through the queue: a plain scheduled slot that any node
    /// may run. A job pinned to a node, a service, a job that waits for what it requires or is
    /// ordered after, and a user's job (bounded per user on each node) go the way of a single
    /// node: fired, admitted and claimed by the node itself.
    func queues(_ entry: JobEntry, _ trigger: RunTrigger) -> Bool {
        guard store.queuesSlots, trigger == .schedule || trigger == .catchUp else { return false }
        let spec = entry.spec
        return spec.node == nil && !spec.isService && (spec.requires ?? []).isEmpty && (spec.after ?? []).isEmpty
            && JobOwner.owner(of: spec.name) == nil
    }

    /// How long after a slot's first node the other nodes offer it: long enough for its row
    /// to be there (they then write nothing), short enough that a first node that has died
    /// unnoticed makes its slots only this much later.
    static let laterOffer: Duration = .milliseconds(250)

    /// Whether this node offers a slot of `job` to the queue at once. Every node offers every
    /// slot, so that a slot runs even when a node dies, and the database keeps the first; but
    /// three nodes inserting the same rows at the same moment wait on one another's inserts. So
    /// the job's first node among the nodes up offers it at once, the others `laterOffer`
    /// after, when they mostly find its row and write nothing.
    func offersFirst(_ job: String) -> Bool {
        guard let up = nodesUp, up.contains(configuration.node), up.count > 1 else { return true }
        return FirstNode.of(job: job, among: up) == configuration.node
    }

    /// Whether this node asks for a slot of `entry` that does not go through the queue (a
    /// user's job, one ordered `after` another) `laterOffer` after the job's first node, for
    /// the reason the queue's slots are offered in turn: nodes inserting the same start rows at
    /// the same moment wait on one another. Not a pinned job (only its node fires it), a
    /// service (no slots), or one that requires services (the node that runs them fires it).
    func asksLater(_ entry: JobEntry, _ trigger: RunTrigger) -> Bool {
        let spec = entry.spec
        guard trigger == .schedule || trigger == .catchUp, spec.node == nil, !spec.isService, (spec.requires ?? []).isEmpty else {
            return false
        }
        return !offersFirst(spec.name)
    }

    /// The slots to offer this turn: those fired now whose first node this node is, and the
    /// others' fired earlier whose moment has come; the others' fired now wait for theirs.
    func offeredNow(_ fired: [QueuedSlot], at now: Date) -> [QueuedSlot] {
        var offered: [QueuedSlot] = []
        var later: [QueuedSlot] = []
        for slot in fired {
            if offersFirst(slot.job) { offered.append(slot) } else { later.append(slot) }
        }
        while let first = laterOffers.first, first.due <= now {
            // Not those of a job removed meanwhile.
            offered += first.slots.filter { jobs[$0.job] != nil }
            laterOffers.removeFirst()
        }
        if !later.isEmpty {
            laterOffers.append((now.addingTimeInterval(Double(Self.laterOffer.milliseconds) / 1000), later))
        }
        return offered
    }

    /// Queues the slots fired this turn; the skips the store recorded instead are reported.
    func queue(_ slots: [QueuedSlot]) async {
        guard !slots.isEmpty else { return }
        do {
            reportFinal(try await store.queueSlots(slots, limit: configuration.maxQueued))
            queueBacklog = true
        } catch {
            // Every node queues every slot: another node's insert may well have it.
            logger.error("cannot queue slots", metadata: [
                "schedd.job": "\(slots[0].job)", "schedd.slots": .stringConvertible(slots.count), "schedd.error": "\(error)",
            ])
        }
    }

    /// Claims as many queued slots as there are free workers, when there may be some: told so,
    /// the last claim filled every worker, or the poll is due. Returns the claimed runs, each
    /// holding its worker already, for the caller to start this turn (their rows already say
    /// `running` on this node).
    func claimQueued() async -> [RunRequest] {
        guard store.queuesSlots, !stopping else { return [] }
        let free = pool.free
        guard free > 0 else { return [] }
        let now = clock.now()
        let nudged = queueNudged.take()
        guard nudged || queueBacklog || nextQueuePoll.map({ now >= $0 }) ?? true else { return [] }
        nextQueuePoll = now.addingTimeInterval(Double(configuration.queuePoll.milliseconds) / 1000)
        let claimed: [RunRecord]
        do {
            claimed = try await store.claimQueued(limit: free)
        } catch {
            queueBacklog = false
            logger.error("cannot claim queued slots", metadata: ["schedd.error": "\(error)"])
            return []
        }
        queueBacklog = claimed.count >= free
        var refused: [(run: RunRecord, outcome: RunOutcome)] = []
        var starting: [RunRequest] = []
        for record in claimed {
            let known = jobs[record.job]
            if let entry = known, let missed = missedInQueue(record, entry, now: now) {
                // Between the sweeps that give such slots up (a third of a lease apart).
                metrics.firesMissed(record.job, 1)
                refused.append((record, RunOutcome(status: .skipped, finishedAt: clock.now(), error: missed)))
                continue
            }
            // A store answers at most `limit` rows; past the free workers, none would be left.
            let full = starting.count >= free ? "no worker of this node is free" : nil
            if let why = full ?? known.map({ refusal(of: record, $0) }) ?? "this node does not know the job" {
                refused.append((record, RunOutcome(status: .skipped, finishedAt: clock.now(), error: "skipped: claimed, but \(why)")))
                continue
            }
            guard let entry = known else { continue }
            var request = RunRequest(spec: entry.sharedSpec, trigger: record.trigger, attempt: record.attempt, scheduledAt: record.scheduledAt,
                                     extraEnvironment: [:])
            request.claimed = record
            pool.startClaimed(request)
            starting.append(request)
        }
        if !refused.isEmpty {
            do {
                reportFinal(try await store.finishRuns(refused).compactMap { $0 })
            } catch {
                logger.error("cannot record claimed slots that did not start", metadata: ["schedd.error": "\(error)"])
            }
        }
        return starting
    }

    /// Why a slot claimed from the queue is a missed fire, if it is: a slot of a job with
    /// `catch_up: none` (the default) that would start later than the late tolerance (beyond
    /// its jitter), as a node's own late fire is. Other `catch_up`s are the sweep's to decide:
    /// `once` keeps a job's newest slot, which only the database knows.
    func missedInQueue(_ claimed: RunRecord, _ entry: JobEntry, now: Date) -> String? {
        guard claimed.trigger == .schedule, let slot = claimed.scheduledAt, entry.spec.effectiveCatchUp == .none else { return nil }
        let tolerance = configuration.lateTolerance.milliseconds
        let jitter = entry.spec.jitter?.milliseconds ?? 0
        guard now.timeIntervalSince(slot) * 1000 > Double(tolerance + jitter) else { return nil }
        return "missed: claimed more than \(DurationText.format(milliseconds: tolerance)) after its time, no node having had a free worker (catch_up: none)"
    }

    /// How late a fire may be before it is missed; a slot queued for longer is too.
    package nonisolated var lateTolerance: Duration { configuration.lateTolerance }

    /// Reports queued runs the store gave up on (`skipped` now: missed slots, manual runs for a
    /// node that went away) as the skips they are.
    package func queuedRunsExpired(_ records: [RunRecord]) {
        for record in records where record.scheduledAt != nil { metrics.firesMissed(record.job, 1) }
        reportFinal(records)
    }

    /// Why a run this node claimed may not start here, if so. The job set may differ from the
    /// node that queued it for a moment (a reload not yet seen), or the job was paused since.
    /// A manual run was queued for this node by another (its job is pinned here).
    func refusal(of claimed: RunRecord, _ entry: JobEntry) -> String? {
        if stopping { return "schedd is shutting down" }
        if claimed.trigger == .manual { return entry.spec.isService ? "the job is a service" : nil }
        return entry.canStart && queues(entry, claimed.trigger) ? nil : "the job may not start now"
    }

}
