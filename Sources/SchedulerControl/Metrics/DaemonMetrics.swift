import CoreMetrics
import Dispatch
import Foundation
import Prometheus
import Scheduler
import SchedulerAPI
#if canImport(Glibc)
import Glibc
#endif

/// schedd's metrics in Prometheus's text format (`GET /v1/metrics`, `--metrics-listen`): what
/// the engine reports through swift-metrics as it happens (`factory`), and gauges of the
/// daemon's state read at each scrape. docs/metrics.md describes every one.
public final class DaemonMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let startedAt: Date

    /// Give it to the engine (`JobScheduler.Configuration.metrics`).
    public var factory: any MetricsFactory { PrometheusBackend(registry: registry) }

    private let running: Prometheus.Gauge
    private let queued: Prometheus.Gauge
    private let workersBusy: Prometheus.Gauge
    private let workers: Prometheus.Gauge
    private let services: Prometheus.Gauge
    private let jobs: [(state: String, gauge: Prometheus.Gauge)]
    private let writesFailing: Prometheus.Gauge
    private let unwrittenEnds: Prometheus.Gauge
    private let unwrittenStates: Prometheus.Gauge
    private let unwrittenSkips: Prometheus.Gauge
    private let startTime: Prometheus.Gauge
    private let residentMemory: Prometheus.Gauge
    private let openDescriptors: Prometheus.Gauge

    /// The HELP line of every metric.
    static let help: [String: String] = [
        "schedd_runs_total": "Runs ended, by job and final status (skipped included).",
        "schedd_run_duration_seconds": "How long runs took, by job.",
        "schedd_run_lateness_seconds": "How long after its slot a scheduled run started, by job.",
        "schedd_last_success_timestamp_seconds": "When the job last succeeded (Unix time).",
        "schedd_service_restarts_total": "Restarts of a service by its restart rule.",
        "schedd_fires_missed_total": "Fire times that passed without a run (catch_up none, or all but the last with once).",
        "schedd_store_write_seconds": "How long a commit of run starts or ends took.",
        "schedd_runs_running": "Runs running now: those holding a worker and services.",
        "schedd_runs_queued": "Runs waiting for a worker.",
        "schedd_workers_busy": "Workers running a run.",
        "schedd_workers": "Workers (--workers).",
        "schedd_services_running": "Services running now.",
        "schedd_jobs": "Jobs by state: active, paused, failed (a service past its restart limit), disabled.",
        "schedd_store_write_failing": "1 while the database refuses writes (a full disk, an I/O error), else 0.",
        "schedd_store_unwritten": "Writes the database refused, kept in memory until it takes them: run ends, job states, skipped runs.",
        "process_start_time_seconds": "When schedd started (Unix time).",
        "process_resident_memory_bytes": "schedd's resident memory.",
        "process_open_fds": "schedd's open file descriptors.",
    ]

    public init(startedAt: Date = Date()) {
        self.startedAt = startedAt
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        func gauge(_ name: String, _ labels: [(String, String)] = []) -> Prometheus.Gauge {
            registry.makeGauge(descriptor: PrometheusBackend.descriptor(name), labels: labels)
        }
        running = gauge("schedd_runs_running")
        queued = gauge("schedd_runs_queued")
        workersBusy = gauge("schedd_workers_busy")
        workers = gauge("schedd_workers")
        services = gauge("schedd_services_running")
        jobs = ["active", "paused", "failed", "disabled"].map { ($0, gauge("schedd_jobs", [("state", $0)])) }
        writesFailing = gauge("schedd_store_write_failing")
        unwrittenEnds = gauge("schedd_store_unwritten", [("kind", "run_end")])
        unwrittenStates = gauge("schedd_store_unwritten", [("kind", "job_state")])
        unwrittenSkips = gauge("schedd_store_unwritten", [("kind", "skipped_run")])
        startTime = gauge("process_start_time_seconds")
        residentMemory = gauge("process_resident_memory_bytes")
        openDescriptors = gauge("process_open_fds")
        startTime.set(startedAt.timeIntervalSince1970)
    }

    /// The text of a scrape: the daemon's state now, then everything in the registry.
    public func render(engine: JobScheduler) async throws -> String {
        let load = await engine.load()
        running.set(Int64(load.busy + load.services))
        queued.set(Int64(load.queued))
        workersBusy.set(Int64(load.busy))
        workers.set(Int64(load.workers))
        services.set(Int64(load.services))
        writesFailing.set(Int64(load.storeTrouble?.error == nil ? 0 : 1))
        unwrittenEnds.set(Int64(load.storeTrouble?.unwrittenRunEnds ?? 0))
        unwrittenStates.set(Int64(load.storeTrouble?.unwrittenJobStates ?? 0))
        unwrittenSkips.set(Int64(load.storeTrouble?.unwrittenSkippedRuns ?? 0))
        let counts = try await engine.reader.jobStateCounts()
        for (state, gauge) in jobs {
            switch state {
            case "active": gauge.set(Int64(counts.active))
            case "paused": gauge.set(Int64(counts.paused))
            case "failed": gauge.set(Int64(counts.failed))
            default: gauge.set(Int64(counts.disabled))
            }
        }
        let (memory, descriptors) = await Self.processFigures()
        residentMemory.set(memory)
        openDescriptors.set(descriptors)
        return registry.emitToString()
    }

    /// `/proc` is read on a queue of its own, off the cooperative pool.
    private static let queue = DispatchQueue(label: "schedd.metrics")

    static func processFigures() async -> (memory: Int64, descriptors: Int64) {
        await BlockingWork.run(on: queue) {
            var memory: Int64 = 0
            if let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) {
                let fields = text.split(separator: " ")
                if fields.count > 1, let pages = Int64(fields[1]) { memory = pages * Int64(sysconf(Int32(_SC_PAGESIZE))) }
            }
            var descriptors: Int64 = 0
            if let dir = opendir("/proc/self/fd") {
                while let entry = readdir(dir) {
                    if entry.pointee.d_name.0 != 0x2E { descriptors += 1 }
                }
                closedir(dir)
                descriptors -= 1  // the directory being read
            }
            return (memory, max(0, descriptors))
        }
    }
}
