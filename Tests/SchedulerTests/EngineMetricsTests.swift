import Foundation
import SchedulerAPI
import Testing
@testable import Scheduler
@testable import SchedulerControl

@Suite struct EngineMetricsTests {
    /// What the engine reports through the daemon's backend, on a manual clock: runs by status,
    /// missed fires, lateness, and a removed job's series gone.
    @Test func runsMissedFiresAndLatenessAreCountedPerJob() async throws {
        let metrics = DaemonMetrics()
        var configuration = JobScheduler.Configuration(workers: 4, shutdownGrace: .seconds(5), defaultTimeZone: "UTC")
        configuration.metrics = metrics.factory
        // Last fired 5 hours before t0; the engine comes back at t0 + 30 min.
        let clock = ManualClock(t0.addingTimeInterval(1800))
        let jobs = #"""
            {"jobs": [{"name": "hourly", "handler": "ok", "schedule": "0 * * * *", "catch_up": "none"},
                      {"name": "ok", "handler": "ok"}, {"name": "bad", "handler": "bad", "retries": 0},
                      {"name": "tick", "handler": "ok", "schedule": "@every 10s"}]}
            """#
        let handlers: [String: JobHandler] = ["ok": { _ in }, "bad": { _ in throw APIError(.internal, "no") }]
        try await withEngine(jobs: jobs, handlers: handlers, clock: clock, configuration: configuration, prepare: { db in
            try await db.saveStates([("hourly", JobState(lastFireAt: t0.addingTimeInterval(-5 * 3600)))])
        }) { engine, log, _ in
            _ = try await engine.runNow("ok")
            _ = try await engine.runNow("ok")
            _ = try await engine.runNow("bad")
            clock.advance(by: 10)
            try await waitFor("the runs") { await log.finished.count >= 4 }
            await engine.untilIdle()
            let text = try await metrics.render(engine: engine)
            // The second run of "ok" came while the first waited: skipped (concurrency: forbid).
            for line in [#"schedd_fires_missed_total{job="hourly"} 5"#, #"schedd_runs_total{job="ok",status="succeeded"} 1"#,
                         #"schedd_runs_total{job="ok",status="skipped"} 1"#,
                         #"schedd_runs_total{job="bad",status="failed"} 1"#, #"schedd_run_lateness_seconds_count{job="tick"} 1"#,
                         #"schedd_jobs{state="active"} 4.0"#, "# HELP schedd_runs_total "] {
                #expect(text.contains(line), "\(line) in:\n\(text)")
            }
            // The lateness of a run that started on its slot is in the first bucket.
            #expect(text.contains(#"schedd_run_lateness_seconds_bucket{job="tick",le="0.001"} 1"#), "\(text)")
            try await engine.apply(jobFile: #"{"jobs": [{"name": "ok", "handler": "ok"}]}"#, prune: true)
            let after = try await metrics.render(engine: engine)
            #expect(!after.contains(#"job="bad""#) && !after.contains(#"job="hourly""#) && after.contains(#"job="ok""#), "\(after)")
        }
    }
}
