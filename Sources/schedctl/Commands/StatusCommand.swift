import ArgumentParser
import Foundation
import SchedulerAPI

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the daemon's version, uptime, workers, queue and jobs by state.",
        discussion: """
            A health check: exits 0 when no job needs attention, 1 when a service is failed \
            (past its restart limit), a job is paused by its failure threshold, or a job names a \
            job it cannot use, one that a reload removed, say (listed under "health", and in \
            --json as "jobs.problems" with "healthy": false); also when database writes fail, \
            and when the job file's last reload (SIGHUP, `systemctl reload`, `schedctl reload`) \
            was refused ("config_file.reload_error").
            """)

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let reply = try global.client.send("GET", "/v1/status")
        let status = try ControlClient.decoded(reply, as: StatusResponse.self)
        if global.json {
            Output.printJSON(bytes: reply.body)
        } else {
            let jobs = status.jobs
            var queue = "\(status.queued) queued"
            if !status.queuedJobs.isEmpty {
                queue += " (\(status.queuedJobs.joined(separator: ", "))\(status.queued > status.queuedJobs.count ? ", …" : ""))"
            }
            if let held = status.held, held > 0 {
                queue += "; \(Output.count(held, "run")) \(held == 1 ? "waits" : "wait") for what \(held == 1 ? "it follows or requires" : "they follow or require") (`schedctl list` says what)"
            }
            print("""
                schedd \(status.version), pid \(status.pid), up \(Output.span(Date().timeIntervalSince(status.startedAt)))
                database:  \(status.database)
                socket:    \(global.socketPath)
                workers:   \(status.workersBusy)/\(status.workersTotal) busy, \(queue)
                services:  \(status.servicesRunning) running
                jobs:      \(Output.count(jobs.total, "job")) (\(jobs.active) active, \(jobs.paused) paused, \(jobs.failed) failed, \(jobs.disabled) disabled)
                """)
            if let tracking = status.processTracking {
                print(tracking.mode == "cgroup" ? "processes: a cgroup per run, below \(tracking.detail)"
                                                : "processes: found through /proc (no cgroup per run: \(tracking.detail))")
                // Only the slower fallback is news; the helper is what an install puts there.
                if tracking.mode == "cgroup", let entry = tracking.entry, entry.hasPrefix("/bin/sh") {
                    print("           entered through \(entry)")
                }
            }
            if let zone = status.timeZone { print("time zone: \(zone) (of schedules that name none)") }
            if let file = status.configFile { print("job file:  \(file.path)") }
            if let shutdown = status.shuttingDown {
                let left = Output.count(shutdown.runs, "run") + " going on"
                if let end = shutdown.graceEndsAt, end > Date() {
                    print("state:     shutting down: no run starts; \(left), stopped in \(Output.span(end.timeIntervalSinceNow)) if not done")
                } else {
                    print("state:     shutting down: no run starts; \(left), being stopped (grace period over)")
                }
            }
            if status.healthy {
                print("health:    ok")
            } else {
                var said = false
                if let file = status.configFile, let refused = file.reloadRefusedAt {
                    print("health:    the job file was refused \(Output.span(Date().timeIntervalSince(refused))) ago (at a reload or at start); the jobs run as applied before")
                    for line in (file.reloadError ?? "").split(separator: "\n") { print("             \(line.drop { $0 == " " })") }
                    print("           (`schedctl reload` applies the file once it is fixed)")
                    said = true
                }
                if let problem = status.databaseProblem {
                    var line = said ? "           " : "health:    "
                    if let error = problem.error {
                        line += "database writes failing"
                        if let since = problem.since { line += " since \(Output.span(Date().timeIntervalSince(since))) ago" }
                        line += ": \(error)"
                    } else {
                        line += "database writes pending"
                    }
                    print(line)
                    if problem.unwrittenRunEnds > 0 || problem.unwrittenJobStates > 0 || problem.unwrittenSkippedRuns > 0 {
                        print("           kept in memory until written: \(Output.count(problem.unwrittenRunEnds, "run end")), "
                              + "\(Output.count(problem.unwrittenJobStates, "job state")), "
                              + "\(Output.count(problem.unwrittenSkippedRuns, "skipped run"))")
                    }
                }
                if !jobs.problems.isEmpty {
                    let prefix = status.databaseProblem == nil && !said ? "health:    " : "           "
                    print("\(prefix)\(Output.count(jobs.problems.count, "job")) \(jobs.problems.count == 1 ? "needs" : "need") attention")
                    for problem in jobs.problems {
                        print("  \(problem.job): \(problem.state) (\(problem.reason))")
                    }
                }
            }
        }
        if !status.healthy { throw ExitCode(1) }
    }
}
