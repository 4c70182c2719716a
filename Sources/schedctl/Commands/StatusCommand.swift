import ArgumentParser
import Foundation
import SchedulerAPI

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show the daemon's version, uptime, workers, queue and jobs by state.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        guard let status = try global.request("GET", "/v1/status", as: StatusResponse.self) else { return }
        let jobs = status.jobs
        print("""
            schedd \(status.version), pid \(status.pid), up \(Output.span(Date().timeIntervalSince(status.startedAt)))
            database:  \(status.database)
            socket:    \(global.socketPath)
            workers:   \(status.workersBusy)/\(status.workersTotal) busy, \(status.queued) queued
            jobs:      \(jobs.total) (\(jobs.active) active, \(jobs.paused) paused, \(jobs.failed) failed, \(jobs.disabled) disabled)
            """)
    }
}
