import Logging
import SchedulerAPI

extension JobScheduler {
    /// Brings the services of this node in line with definitions that a reload, an apply or
    /// another node changed, and with a pause made on another node: a running service whose
    /// process would differ is restarted on the new definition (as `schedctl restart`); one
    /// disabled, paused elsewhere, removed, or no longer a service, is stopped; a job that
    /// became a service, or a service enabled again, is started. (Each went on as it was:
    /// `list` showed "disabled" beside a running process, and the next `restart` ran the old
    /// command.)
    func servicesRedefined(from before: [String: JobEntry]) async {
        for name in jobs.keys.sorted() {
            guard let entry = jobs[name], let old = before[name] else { continue }
            // Paused here, `pauseJob` stopped it; paused on another node (cluster mode), the
            // pause reaches this node, which runs it, as this reload.
            let pausedElsewhere = entry.state.paused && !old.state.paused
            guard pausedElsewhere || (entry.sharedSpec !== old.sharedSpec && entry.spec != old.spec) else { continue }
            let running = active.values.first { $0.record.job == name && $0.control.reason == nil }
            // Its start row being written, it is stopped as it begins (`stopStarting`), as a
            // running one is now: it would start on the old definition and go on.
            let starting = running == nil && startingJobs[name] != nil
            var metadata: Logger.Metadata = ["schedd.job": "\(name)"]
            if let running { metadata["schedd.run_id"] = .stringConvertible(running.record.id) }
            if running != nil || starting, old.spec.isService, entry.spec.isService, pausedElsewhere {
                logger.notice("service stopped: it was paused on another node", metadata: metadata)
                stopAfterDependents(name, "paused on another node")
                stopStarting(name, "paused on another node", by: nil)
            } else if running != nil || starting, old.spec.isService, !entry.spec.isService || !entry.spec.isEnabled {
                let why = entry.spec.isService ? "the service was disabled (\"enabled\": false)" : "the job is no longer a service"
                metadata["schedd.reason"] = "\(why)"
                logger.notice("service stopped: its definition changed", metadata: metadata)
                stopAfterDependents(name, "stopped: \(why)")
                stopStarting(name, "stopped: \(why)", by: nil)
            } else if running != nil || starting, old.spec.isService, entry.spec.isService, !entry.spec.startsTheSameRun(as: old.spec),
                      entry.canStart, !entry.stoppedByHand {
                logger.notice("service restarted: its definition changed", metadata: metadata)
                jobs[name]?.restartRequested = .redefined
                running?.control.cancel("restarted: its definition changed")
                stopStarting(name, "restarted: its definition changed", by: nil)
            } else if running == nil, entry.spec.isService, !old.spec.isService || !old.spec.isEnabled,
                      entry.canStart, !entry.stoppedByHand, !isUnderway(name) {
                _ = await trigger(name, .boot, scheduledAt: nil, force: true)
            }
        }
        // A removed scheduled job's run goes on to its end; a service's would go on for ever,
        // supervised by no one and listed nowhere.
        for (name, old) in before where jobs[name] == nil && old.spec.isService {
            guard let running = active.values.first(where: { $0.record.job == name && $0.control.reason == nil }) else {
                if stopStarting(name, "stopped: the service was removed", by: nil) > 0 {
                    logger.notice("service stopped: it was removed", metadata: ["schedd.job": "\(name)"])
                }
                continue
            }
            logger.notice("service stopped: it was removed", metadata: [
                "schedd.job": "\(name)", "schedd.run_id": .stringConvertible(running.record.id),
            ])
            stopAfterDependents(name, "stopped: the service was removed")
        }
    }
}
