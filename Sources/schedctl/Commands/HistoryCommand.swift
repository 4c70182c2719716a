import ArgumentParser
import Foundation
import SchedulerAPI

struct HistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "history", abstract: "Show past runs, newest first.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Only this job, or the jobs a shell pattern matches (quoted: 'db-*').", completion: JobNameCompletion.kind,
              transform: JobNameArgument.parse)
    var name: String?

    @Option(name: [.customShort("n"), .long], help: "At most this many runs.")
    var limit: Int = 20

    @Option(help: "Only runs with this status (succeeded, failed, timed_out, cancelled, interrupted, skipped, lost, running; queued in cluster mode: waiting for a node to claim it).")
    var status: String?

    @Option(help: "Only runs started within this duration (e.g. 24h), or since this time (2026-12-06T07:00:00Z; without a zone, as 2026-12-06, \"2026-12-06 07:00\", today or yesterday, in this machine's time zone).")
    var since: String?

    @Flag(help: "Show absolute times, and why each run that did not succeed ended so (why it was skipped, what stopped it).")
    var wide = false

    func validate() throws {
        if !(1...10_000).contains(limit) { throw ValidationError("--limit must be 1-10000") }
        if let status, RunStatus(rawValue: status) == nil {
            throw ValidationError("--status \"\(status)\" is not one of \(RunStatus.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let since, SinceText.resolve(since) == nil {
            throw ValidationError("--since \"\(since)\" is neither a duration (e.g. 24h) nor a time (2026-12-06T07:00:00Z or with an offset: +01:00; 2026-12-06, \"2026-12-06 07:00\", today or yesterday in this machine's time zone)")
        }
    }

    func run() async throws {
        var query = ["limit=\(limit)"]
        if let status { query.append("status=\(status)") }
        if let since = since.flatMap({ SinceText.resolve($0) }) { query.append("since=\(ControlClient.escape(since))") }
        if let name, JobTargets.isPattern(name) { return try runsOfJobs(matching: name, query) }
        if let name { query.append("job=\(ControlClient.escape(name))") }
        guard let page = try global.request("GET", "/v1/runs?" + query.joined(separator: "&"), as: RunPage.self) else { return }
        print(page.runs.isEmpty ? "no runs" : Self.table(page.runs, wide: wide))
    }

    /// The newest `limit` runs of the jobs `pattern` matches: each job's newest `limit`, merged
    /// (the API's `job` is one name). Jobs that are gone are not matched: their history is asked
    /// for by name.
    func runsOfJobs(matching pattern: String, _ query: [String]) throws {
        let names = try JobTargets.resolve([pattern], global)
        var runs: [RunRecord] = []
        for job in names {
            let page = try global.client.call("GET", "/v1/runs?" + (query + ["job=\(ControlClient.escape(job))"]).joined(separator: "&"), as: RunPage.self)
            runs += page.runs
        }
        runs = Array(runs.sorted { $0.id > $1.id }.prefix(limit))
        if global.json {
            let data = try APICoding.encoder().encode(RunPage(runs: runs, nextCursor: nil))
            return Output.printJSON(bytes: Array(data))
        }
        print(runs.isEmpty ? "no runs" : Self.table(runs, wide: wide))
    }

    /// `retry #1 after 40` for the first retry (attempt 2), which follows run 40 (`retry #1`
    /// for rows written before schedd recorded which); `after 41` for a run that run 41's end
    /// triggered (`on_failure`, `on_success`). Not "of 40": with `retries: 2`, "retry #2 of 4"
    /// read as the second of four retries.
    static func trigger(_ run: RunRecord) -> String {
        if run.trigger == .retry { return "retry #\(max(1, run.attempt - 1))" + (run.retryOf.map { " after \($0)" } ?? "") }
        if run.trigger == .dependency, let cause = run.triggeredByRun {
            return "after \(cause)" + (run.attempt > 1 ? " (attempt \(run.attempt))" : "")
        }
        return run.trigger.rawValue + (run.attempt > 1 ? " (attempt \(run.attempt))" : "")
    }

    static func table(_ runs: [RunRecord], wide: Bool) -> String {
        // CPU: what the run's processes used (user + system), where schedd measured it.
        // BY: who started a manual run and who cancelled one, over the control socket.
        // NODE: in a cluster, where each run ran.
        let nodes = runs.contains { $0.node != nil }
        return Output.table(["ID", "JOB"] + (nodes ? ["NODE"] : []) + ["TRIGGER", "STARTED", "DURATION", "CPU", "BY", "RESULT"], runs.map { run in
            [String(run.id), run.job] + (nodes ? [run.node ?? "-"] : []) + [Self.trigger(run),
             Output.when(run.startedAt, wide: wide), Output.duration(run.durationMs), Output.duration(run.cpuMs), Self.by(run),
             wide ? Self.resultWithWhy(run) : Output.result(run)]
        })
    }

    /// `skipped: requires db, which is starting`, `cancelled (signal 15): replaced by a newer
    /// run (concurrency: replace)`: the result and the run's error, where the error says more
    /// than the exit code or signal beside it.
    static func resultWithWhy(_ run: RunRecord) -> String {
        let result = Output.result(run)
        guard let why = Output.why(run), !why.hasPrefix("exited with status "), !why.hasPrefix("killed by signal ") else { return result }
        return result + ": " + why
    }

    /// `alice`, `alice, cancelled by root`, `-`: the names in the audit columns.
    static func by(_ run: RunRecord) -> String {
        var parts: [String] = []
        if let triggered = run.triggeredBy { parts.append(Self.name(triggered)) }
        if let cancelled = run.cancelledBy { parts.append("cancelled by " + Self.name(cancelled)) }
        return parts.isEmpty ? "-" : parts.joined(separator: ", ")
    }

    /// The name in `uid 1000 (alice)`, else the whole text.
    static func name(_ caller: String) -> String {
        guard caller.hasSuffix(")"), let open = caller.lastIndex(of: "(") else { return caller }
        return String(caller[caller.index(after: open)..<caller.index(before: caller.endIndex)])
    }
}
