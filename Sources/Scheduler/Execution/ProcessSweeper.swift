import Foundation
import Logging
import SchedulerAPI
#if canImport(Glibc)
import Glibc
#endif

/// Makes sure no process of an ended run survives it: processes that left the run's session or
/// were orphaned by a double fork get SIGTERM, then SIGKILL after the job's `kill_grace`.
///
/// A run's processes are found in its own cgroup where schedd may make one (`RunCgroups`:
/// nothing escapes it, and no scan of `/proc` is needed), else by the marker in their
/// environment (`ProcessTable`, which `env -i` defeats).
///
/// It runs on its own task, inside the engine's service, so that the grace period is waited out
/// whatever happened to the run's task (a cancelled task cannot sleep). It goes on when that
/// task is cancelled too, until the engine, its drain over, calls `stop()`: a run stopped at a
/// cancelled shutdown still has its leftovers swept, and its `sweep` returns.
public actor ProcessSweeper {
    struct Pending {
        /// The run's job, for the log; empty for a run of a daemon that died, unknown here.
        var job: String
        var grace: Duration
        /// When the processes were first signalled; nil until they have been.
        var terminatedAt: ContinuousClock.Instant?
        var waiters: [CheckedContinuation<Void, Never>] = []
        /// A leftover of a daemon that died: its cgroup goes once it is empty.
        var removeWhenEmpty = false
        /// Whether a pass has looked for its processes yet.
        var looked = false
    }

    /// How the processes of runs are found.
    public enum Tracking: Sendable, Equatable {
        /// Each run in its own cgroup below this one.
        case cgroup(String)
        /// By a marker in the environment, in `/proc`; the reason cgroups are not used.
        case procScan(String)
    }

    private var pending: [ProcessTable.Marker: Pending] = [:]
    private let logger: Logger
    private let interval: Duration
    let instanceID: String
    let cgroups: RunCgroups?
    public nonisolated let tracking: Tracking
    /// How a run's process enters the cgroup `prepare` made for it.
    public nonisolated let cgroupEntry: CgroupEntry
    private let wakeup = Wakeup()
    private var stopped = false

    /// With `useCgroups` false, runs are tracked through `/proc` even where cgroups would do.
    public init(instanceID: String, logger: Logger, interval: Duration = .milliseconds(100), useCgroups: Bool = true,
                cgroupEntry: CgroupEntry = .besideExecutable()) {
        self.instanceID = instanceID
        self.cgroupEntry = cgroupEntry
        self.logger = logger
        self.interval = interval
        switch useCgroups ? RunCgroups.detect(instance: instanceID) : .unavailable("a cgroup per run is turned off") {
        case let .available(cgroups):
            self.cgroups = cgroups
            tracking = .cgroup(cgroups.base)
        case let .unavailable(reason):
            cgroups = nil
            tracking = .procScan(reason)
        }
    }

    /// Makes the run's cgroup before its process starts; returns the `cgroup.procs` the
    /// process must move itself into, or nil (no cgroups, or this one failed: logged, and the
    /// run is tracked through `/proc`).
    func prepare(runID: Int64) async -> String? {
        guard let cgroups else { return nil }
        do {
            return try await Self.onQueue { () throws(APIError) -> String in try cgroups.create(runID: runID) }
        } catch {
            logger.warning("cannot make the run's cgroup; its processes are tracked through /proc", metadata: [
                "schedd.run_id": .stringConvertible(runID), "schedd.error": "\(error.message)",
            ])
            return nil
        }
    }

    /// The CPU time of an ended run, whose processes have all been swept, and the removal of
    /// its cgroup; nil without one.
    func finish(runID: Int64) async -> Int64? {
        guard let cgroups else { return nil }
        let (cpu, removed) = await Self.onQueue { (cgroups.cpuMilliseconds(runID: runID), cgroups.remove(runID: runID)) }
        if !removed {
            // Not empty after all (a process moved in from outside): swept, then removed.
            let marker = ProcessTable.Marker(instance: instanceID, runID: runID)
            pending[marker, default: Pending(job: "", grace: .seconds(10))].removeWhenEmpty = true
            wakeup.signal()
        }
        return cpu
    }

    /// Asks for the processes of a run to be stopped, and waits until none is left.
    public func sweep(job: String, runID: Int64, grace: Duration) async {
        let marker = ProcessTable.Marker(instance: instanceID, runID: runID)
        if stopped {
            // Too late for a grace period: whatever is left is killed now.
            let pids = await scan([marker])[marker] ?? []
            await kill([marker: pids])
            return
        }
        await withCheckedContinuation { continuation in
            pending[marker, default: Pending(job: job, grace: grace)].waiters.append(continuation)
            wakeup.signal()
        }
    }

    /// The same without waiting: used for runs left by a daemon that died.
    public func sweepInBackground(job: String, runID: Int64, grace: Duration) {
        let marker = ProcessTable.Marker(instance: instanceID, runID: runID)
        if pending[marker] == nil { pending[marker] = Pending(job: job, grace: grace) }
        pending[marker]?.removeWhenEmpty = cgroups != nil
        wakeup.signal()
    }

    /// Sweeps until `stop()`; the engine runs it for its whole life. The cgroups a daemon that
    /// died left behind are swept and removed first.
    public func run() async {
        if let cgroups {
            for runID in await Self.onQueue({ cgroups.leftoverRunIDs() }) {
                sweepInBackground(job: "", runID: runID, grace: .seconds(10))
            }
        }
        while !stopped {
            if pending.isEmpty {
                await wakeup.waitIgnoringCancellation()
                continue
            }
            await pass()
            // Runs added while the pass looked are looked for at once; only runs whose
            // processes were found and signalled wait for the next look. (Pausing for those
            // added meanwhile held each run's end for the interval when runs end often.)
            if !pending.isEmpty && pending.values.allSatisfy(\.looked) { await Pause.ignoringCancellation(interval) }
        }
        for (_, entry) in pending { entry.waiters.forEach { $0.resume() } }
        pending = [:]
    }

    /// Ends `run()`: called by the engine once no run is left.
    public func stop() {
        stopped = true
        wakeup.signal()
    }

    /// Reads of `/proc` and cgroupfs run here: reading every process's environment is file
    /// I/O, and a cgroup's files take the kernel's cgroup lock; neither may hold a thread of
    /// the cooperative pool.
    private static let queue = DispatchQueue(label: "schedd.process-scan")

    static func onQueue<T: Sendable, E: Error>(_ work: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        try await BlockingWork.run(on: queue, work)
    }

    /// The live processes of each run: from its cgroup when it has one, else from `/proc`.
    func scan(_ markers: Set<ProcessTable.Marker>) async -> [ProcessTable.Marker: [pid_t]] {
        let cgroups = self.cgroups
        return await Self.onQueue {
            var found: [ProcessTable.Marker: [pid_t]] = [:]
            var unboxed = Set<ProcessTable.Marker>()
            for marker in markers {
                if let cgroups, access(cgroups.path(runID: marker.runID), F_OK) == 0 {
                    found[marker] = cgroups.processes(runID: marker.runID).filter { !ProcessTable.isZombie($0) }
                } else {
                    unboxed.insert(marker)
                }
            }
            found.merge(ProcessTable.processes(carrying: unboxed)) { a, _ in a }
            return found
        }
    }

    private static func metadata(_ entry: Pending, _ marker: ProcessTable.Marker, _ pids: [pid_t]) -> Logger.Metadata {
        var metadata: Logger.Metadata = ["schedd.run_id": .stringConvertible(abs(marker.runID)), "schedd.pids": "\(pids)"]
        if !entry.job.isEmpty { metadata["schedd.job"] = "\(entry.job)" }
        // A service's ready check is swept under its run's id negated.
        if marker.runID < 0 { metadata["schedd.ready_check"] = "true" }
        return metadata
    }

    /// SIGKILL to the runs' processes: their whole cgroup at once where they have one.
    private func kill(_ found: [ProcessTable.Marker: [pid_t]]) async {
        let cgroups = self.cgroups
        await Self.onQueue {
            for (marker, pids) in found where !pids.isEmpty {
                if let cgroups, access(cgroups.path(runID: marker.runID), F_OK) == 0 {
                    cgroups.killAll(runID: marker.runID)
                } else {
                    for pid in pids { Glibc.kill(pid, SIGKILL) }
                }
            }
        }
    }

    /// One look at the pending runs: signal what is left, release the waiters of runs with
    /// none left. Only the runs it looked for are judged: others may be added meanwhile.
    private func pass() async {
        let markers = Set(pending.keys)
        let found = await scan(markers)
        let now = ContinuousClock.now
        var overdue: [ProcessTable.Marker: [pid_t]] = [:]
        var emptied: [Int64] = []
        for marker in markers {
            guard var entry = pending[marker] else { continue }
            let pids = found[marker] ?? []
            if pids.isEmpty {
                entry.waiters.forEach { $0.resume() }
                if entry.removeWhenEmpty { emptied.append(marker.runID) }
                pending[marker] = nil
                continue
            }
            entry.looked = true
            pending[marker] = entry
            if let terminatedAt = entry.terminatedAt {
                if now - terminatedAt >= entry.grace {
                    overdue[marker] = pids
                    logger.warning("killed processes left by a run", metadata: Self.metadata(entry, marker, pids))
                }
            } else {
                // What a job starts in the background (`nohup … &`) goes with its run, as the
                // job file's reference says: a user moving a cron job here learns it from this.
                logger.notice("stopping processes left by a run", metadata: Self.metadata(entry, marker, pids))
                for pid in pids { Glibc.kill(pid, SIGTERM) }
                entry.terminatedAt = now
                pending[marker] = entry
            }
        }
        if !overdue.isEmpty { await kill(overdue) }
        if let cgroups, !emptied.isEmpty {
            await Self.onQueue { [emptied] in for runID in emptied { cgroups.remove(runID: runID) } }
        }
    }
}
