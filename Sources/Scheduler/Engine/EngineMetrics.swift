import CoreMetrics
import Foundation
import SchedulerAPI

/// What the engine counts and times, per job, through swift-metrics and the factory its
/// embedder gives (`JobScheduler.Configuration.metrics`; none: nothing is recorded). Labels are
/// per job, never per run, and a removed job's series are destroyed with it, so the output
/// stays as large as the job set. docs/metrics.md lists every metric.
struct EngineMetrics {
    let factory: (any MetricsFactory)?
    private var jobs: [String: JobSeries] = [:]
    private let storeWrites: CoreMetrics.Timer?

    /// The series of one job, made when first needed.
    private struct JobSeries {
        var runs: [RunStatus: Counter] = [:]
        var duration: CoreMetrics.Timer
        var lateness: CoreMetrics.Timer
        var lastSuccess: Meter
        var restarts: Counter
        var missed: Counter

        func destroy() {
            runs.values.forEach { $0.destroy() }
            duration.destroy()
            lateness.destroy()
            lastSuccess.destroy()
            restarts.destroy()
            missed.destroy()
        }
    }

    init(factory: (any MetricsFactory)?) {
        self.factory = factory
        storeWrites = factory.map { CoreMetrics.Timer(label: "schedd_store_write_seconds", factory: $0) }
    }

    private mutating func series(_ job: String) -> JobSeries? {
        if let existing = jobs[job] { return existing }
        guard let factory else { return nil }
        let label = [("job", job)]
        let made = JobSeries(
            duration: CoreMetrics.Timer(label: "schedd_run_duration_seconds", dimensions: label, factory: factory),
            lateness: CoreMetrics.Timer(label: "schedd_run_lateness_seconds", dimensions: label, factory: factory),
            lastSuccess: Meter(label: "schedd_last_success_timestamp_seconds", dimensions: label, factory: factory),
            restarts: Counter(label: "schedd_service_restarts_total", dimensions: label, factory: factory),
            missed: Counter(label: "schedd_fires_missed_total", dimensions: label, factory: factory))
        jobs[job] = made
        return made
    }

    /// A run started: how late it started against the slot it fired for, and a service's
    /// restart.
    mutating func runStarted(_ run: RunRecord) {
        guard let series = series(run.job) else { return }
        if let slot = run.scheduledAt, run.trigger == .schedule || run.trigger == .catchUp {
            series.lateness.recordNanoseconds(Int64(max(0, run.startedAt.timeIntervalSince(slot)) * 1e9))
        }
        if run.trigger == .restart { series.restarts.increment() }
    }

    /// A run ended (or was skipped): its status, its duration, the time of a success.
    mutating func runEnded(_ run: RunRecord) {
        guard var series = series(run.job), let factory else { return }
        let counter = series.runs[run.status] ?? Counter(
            label: "schedd_runs_total", dimensions: [("job", run.job), ("status", run.status.rawValue)], factory: factory)
        series.runs[run.status] = counter
        counter.increment()
        if run.status != .skipped, let ms = run.durationMs { series.duration.recordMilliseconds(ms) }
        if run.status == .succeeded { series.lastSuccess.set((run.finishedAt ?? run.startedAt).timeIntervalSince1970) }
        jobs[run.job] = series
    }

    /// Fire times that passed without a run (`catch_up` none, or all but the last with once).
    mutating func firesMissed(_ job: String, _ count: Int) {
        guard count > 0, let series = series(job) else { return }
        series.missed.increment(by: Int64(count))
    }

    /// How long a write of run starts or ends took to commit.
    func storeWrite(_ duration: Duration) {
        storeWrites?.recordNanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }

    /// Destroys the series of jobs that are gone.
    mutating func keep(only current: some Collection<String>) {
        let current = Set(current)
        for (job, series) in jobs where !current.contains(job) {
            series.destroy()
            jobs[job] = nil
        }
    }
}
