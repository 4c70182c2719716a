import ArgumentParser
import Foundation
import SchedulerAPI

struct ShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show a job's definition, state and last runs.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The job.", completion: JobNameCompletion.kind, transform: JobNameArgument.parse)
    var name: String

    @Flag(help: "Show absolute times.")
    var wide = false

    func run() async throws {
        guard let detail = try global.request("GET", "/v1/jobs/\(ControlClient.escape(name))", as: JobDetail.self) else { return }
        let s = detail.summary
        print("\(s.name): \(s.state)\((s.reason ?? s.pauseReason).map { " (\($0))" } ?? "")")
        if let description = detail.job.spec.description { print("  \(description)") }
        print("origin: \(detail.job.origin)")
        if let created = detail.job.createdBy {
            print("created by: \(created)" + (detail.job.changedBy.map { $0 == created ? "" : "; last changed by: \($0)" } ?? ""))
        }
        if let service = detail.service {
            if let pid = service.pid, let up = service.upSince {
                print("process: pid \(pid), up \(Output.span(Date().timeIntervalSince(up)))")
            } else if service.state == "elsewhere", let run = s.lastRun, run.status == .running, let node = run.node {
                // Another node's process, from its row; that node counts its starts.
                print("process: on node \(node)" + (run.pid.map { ", pid \($0)" } ?? "") + ", up \(Output.span(Date().timeIntervalSince(run.startedAt)))")
            } else {
                print("process: not running" + (service.restartAt.map { ", restart \(Output.when($0, wide: wide))" } ?? ""))
            }
            if service.state != "elsewhere" {
                print("starts: \(service.startsInWindow) in the last \(Output.span(Double(service.windowSeconds))) (restart_limit: \(service.burst.map(String.init) ?? "none"))")
            }
        } else {
            print("next:  \(Output.when(s.nextRunAt, wide: wide))")
            if let waits = s.waitsFor { print("waiting: a run waits to start: \(waits)") }
        }
        if let retry = detail.retry {
            let of = (retry.retryOf.map { " (of run \($0))" } ?? "") + (retry.node.map { " on node \($0)" } ?? "")
            if detail.job.state.paused && retry.dueAt <= Date() {
                print("retry: attempt \(retry.attempt)\(of), held while the job is paused: it starts at `schedctl resume`")
            } else if !detail.job.spec.isEnabled && retry.dueAt <= Date() {
                print("retry: attempt \(retry.attempt)\(of), held while the job is disabled: it starts when enabled again")
            } else {
                print("retry: attempt \(retry.attempt) \(Output.when(retry.dueAt, wide: wide))\(of)")
            }
        }
        for reference in detail.brokenReferences ?? [] { print("problem: \(reference.message)") }
        // A service's failures are its starts in the window, above; it counts none in a row.
        if detail.service == nil { print("failures in a row: \(detail.job.state.consecutiveFailures)") }
        print("\ndefinition:")
        print(detail.job.spec.json.serialized(pretty: true))
        if !detail.recentRuns.isEmpty {
            print("\nlast runs:")
            print(HistoryCommand.table(detail.recentRuns, wide: wide))
        }
    }
}
