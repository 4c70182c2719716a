import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Makes sure no process of an ended run survives it: processes that left the run's session or
/// were orphaned by a double fork get SIGTERM, then SIGKILL after the job's `kill_grace`.
///
/// It runs on its own task, inside the engine's service, so that the grace period is waited out
/// whatever happened to the run's task (a cancelled task cannot sleep). It goes on when that
/// task is cancelled too, until the engine, its drain over, calls `stop()`: a run stopped at a
/// cancelled shutdown still has its leftovers swept, and its `sweep` returns.
public actor ProcessSweeper {
    struct Pending {
        var grace: Duration
        /// When the processes were first signalled; nil until they have been.
        var terminatedAt: ContinuousClock.Instant?
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private var pending: [ProcessTable.Marker: Pending] = [:]
    private let logger: Logger
    private let interval: Duration
    let instanceID: String
    private let wakeup = Wakeup()
    private var stopped = false

    public init(instanceID: String, logger: Logger, interval: Duration = .milliseconds(100)) {
        self.instanceID = instanceID
        self.logger = logger
        self.interval = interval
    }

    /// Asks for the processes of a run to be stopped, and waits until none is left.
    public func sweep(job: String, runID: Int64, grace: Duration) async {
        let marker = ProcessTable.Marker(instance: instanceID, runID: runID)
        if stopped {
            // Too late for a grace period: whatever is left is killed now.
            for pids in await Self.scan([marker]).values { pids.forEach { kill($0, SIGKILL) } }
            return
        }
        await withCheckedContinuation { continuation in
            pending[marker, default: Pending(grace: grace)].waiters.append(continuation)
            wakeup.signal()
        }
    }

    /// The same without waiting: used for runs left by a daemon that died.
    public func sweepInBackground(job: String, runID: Int64, grace: Duration) {
        let marker = ProcessTable.Marker(instance: instanceID, runID: runID)
        if pending[marker] == nil { pending[marker] = Pending(grace: grace) }
        wakeup.signal()
    }

    /// Sweeps until `stop()`; the engine runs it for its whole life.
    public func run() async {
        while !stopped {
            if pending.isEmpty {
                await wakeup.waitIgnoringCancellation()
                continue
            }
            await pass()
            if !pending.isEmpty { await Pause.ignoringCancellation(interval) }
        }
        for (_, entry) in pending { entry.waiters.forEach { $0.resume() } }
        pending = [:]
    }

    /// Ends `run()`: called by the engine once no run is left.
    public func stop() {
        stopped = true
        wakeup.signal()
    }

    /// The scans of `/proc` run here: reading every process's environment is file I/O, which
    /// must not hold a thread of the cooperative pool.
    private static let scanQueue = DispatchQueue(label: "schedd.process-scan")

    static func scan(_ markers: Set<ProcessTable.Marker>) async -> [ProcessTable.Marker: [pid_t]] {
        await withCheckedContinuation { continuation in
            scanQueue.async { continuation.resume(returning: ProcessTable.processes(carrying: markers)) }
        }
    }

    /// One scan of `/proc`: signal what is left, release the waiters of runs with none left.
    /// Only the runs the scan looked for are judged: others may be added while it runs.
    private func pass() async {
        let markers = Set(pending.keys)
        let found = await Self.scan(markers)
        let now = ContinuousClock.now
        for marker in markers {
            guard var entry = pending[marker] else { continue }
            let pids = found[marker] ?? []
            if pids.isEmpty {
                entry.waiters.forEach { $0.resume() }
                pending[marker] = nil
                continue
            }
            if let terminatedAt = entry.terminatedAt {
                if now - terminatedAt >= entry.grace {
                    for pid in pids { kill(pid, SIGKILL) }
                    logger.warning("killed processes left by a run", metadata: [
                        "schedd.run_id": .stringConvertible(marker.runID), "schedd.pids": "\(pids)",
                    ])
                }
            } else {
                for pid in pids { kill(pid, SIGTERM) }
                entry.terminatedAt = now
                pending[marker] = entry
            }
        }
    }
}
