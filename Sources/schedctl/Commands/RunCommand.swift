import ArgumentParser
import Foundation
import SchedulerAPI

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Trigger a job now.",
        discussion: "Answers once the run has started; while it waits for a worker or for a service it requires, says so on stderr (interrupting leaves it waiting: `schedctl cancel NAME` drops it). With --wait, prints the run's output as it is printed and exits with its status: the job's exit code, 124 on timeout, 128+N when killed by signal N, 1 when it was cancelled or skipped. A failed attempt that the job retries is followed by its retries, and the last attempt's status is the exit code.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The job.", completion: JobNameCompletion.kind, transform: JobNameArgument.parse)
    var name: String

    @Flag(name: .shortAndLong, help: "Stream the run's output live and exit with its status.")
    var wait = false

    @Flag(help: "Start even if the job's concurrency policy forbids it.")
    var force = false

    func run() async throws {
        let client = global.client
        let notice = StartWaitNotice(client: client, job: name)
        let reply: ControlClient.Reply
        do {
            defer { notice.finish() }
            reply = try client.send("POST", "/v1/jobs/\(ControlClient.escape(name))/run?force=\(force)", timeout: 3600)
        }
        guard (200..<300).contains(reply.status) else { throw ControlClient.failure(reply) }
        let trigger = try APICoding.decoder().decode(TriggerResponse.self, from: Data(reply.body))
        if trigger.outcome == "skipped" {
            if global.json { Output.printJSON(bytes: reply.body) }
            // --force passes only the job's concurrency policy: not a running service, the
            // bound of waiting runs, or what the job requires.
            let reason = trigger.run.error ?? "skipped"
            let hint = !force && reason.hasSuffix("(concurrency: forbid)") ? "; --force starts it anyway" : ""
            throw CommandFailure(message: "\(name): \(reason) (run \(trigger.run.id)\(hint))", exitCode: 1)
        }
        let queued = trigger.outcome == "queued"
        guard wait else {
            if global.json {
                Output.printJSON(bytes: reply.body)
            } else if queued {
                print("queued \(name): run \(trigger.run.id), for the node the job is pinned to")
            } else {
                print("started \(name): run \(trigger.run.id)")
            }
            return
        }
        // A run queued for another node streams the same way: that node writes its output to
        // the database while it is followed, and this node reads it from there.
        var follower = RunFollower(client: client, runID: trigger.run.id, printOutput: !global.json)
        // As if the job ran here: its stdout to stdout, its stderr to stderr.
        follower.stderrToStderr = true
        var run = try follower.follow()
        // A failed attempt that is retried is not the outcome yet: the retries are followed too.
        // So is a run that a node's shutdown stopped in a cluster, whose retry another node (or
        // that one, back) runs; one daemon takes such a retry up at its next start, said below.
        var lineEnded = false
        // A retry announced that cannot be followed from here: this daemon, or this node, has
        // stopped (the retry runs at the next start, or on another node).
        var unfollowed: RetryStatus?
        // A retry that its paused or disabled job holds: waiting for it would not end.
        var held: RetryHeld?
        while (run.status.isFailure && follower.finalResultDeferred == nil) || (run.status == .cancelled && follower.retry?.node != nil) {
            if !global.json { endLine(follower, run) }
            lineEnded = true
            let next: RunRecord?
            do {
                next = try nextAttempt(after: run, announced: follower.retry, client: client)
            } catch where follower.retry != nil && (error is SchedStopped || (error as? CommandFailure)?.exitCode == 3) {
                unfollowed = follower.retry
                break
            } catch let reason as RetryHeld {
                held = reason
                break
            }
            guard let next else { break }
            follower = RunFollower(client: client, runID: next.id, printOutput: !global.json)
            follower.stderrToStderr = true
            run = try follower.follow()
            lineEnded = false
        }
        if global.json {
            Output.printJSON(bytes: Array(try APICoding.encoder().encode(run)))
        } else {
            if !lineEnded { endLine(follower, run) }
            if !run.status.isFinal {
                throw CommandFailure(message: "\(name) run \(run.id): schedd stopped answering before the run ended", exitCode: 1)
            }
            // Stopped by schedd's shutdown (or failed as it stopped), with attempts left: the
            // work is not dropped, and the user is told where it goes on.
            if let held {
                note("\(name) run \(run.id): \(Self.describe(run)); attempt \(held.attempt) is \(held.reason)")
            } else if let retry = unfollowed ?? (run.status == .cancelled ? follower.retry : nil) {
                let place = retry.node.map { "on another node, or on node \($0) once it is back" } ?? "at schedd's next start"
                // (The retry's line said how the run ended already.)
                let ended = unfollowed == nil ? "\(Self.describe(run)); " : ""
                note("\(name) run \(run.id): \(ended)attempt \(retry.attempt) follows \(place)")
            } else if let deferred = follower.finalResultDeferred {
                // Ended as schedd stopped: what its end sets off is not dropped either.
                let what = run.status.isFailure ? "its failure counted, on_failure" : "on_success, failures in a row set to 0"
                note("\(name) run \(run.id): \(Self.describe(run)); what follows it (\(what)) comes \(Output.place(deferred))")
            } else if run.status != .succeeded {
                note("\(name) run \(run.id): \(Self.describe(run))")
            }
            // Its scheduled runs stop here: said now, not found out when they do not come.
            if follower.pausedJob == "failure_threshold" {
                note("\(name) is paused: its failures in a row reached max_consecutive_failures; `schedctl resume \(name)` resumes it")
            }
            // An alert chain under test: whether it fired, said here rather than looked up.
            if let followUp = follower.followUp {
                note("\(name) run \(run.id): its \(followUp.field) triggers \(followUp.target) (`schedctl logs \(followUp.target)` once it has run)")
            }
        }
        throw ExitCode(Self.exitCode(run))
    }

    /// Ends the output's last line, when the run printed one without its newline.
    private func endLine(_ follower: RunFollower, _ run: RunRecord) {
        if follower.printed > 0, let output = run.output, !output.isEmpty, !output.hasSuffix("\n") {
            print()
        }
    }

    /// The retry of `run` (a failed attempt, or one that a node's shutdown stopped), once it has
    /// started (or been refused: a `skipped` row); nil when none comes. Throws `SchedStopped`
    /// when schedd ended the wait by stopping, `RetryHeld` when the job is paused or disabled
    /// (its retry waits for a `resume` or `enable`). `announced` is the daemon's word that a retry
    /// comes, heard while following the run; a run that ended before that is checked against
    /// its job.
    private func nextAttempt(after run: RunRecord, announced: RetryStatus?, client: ControlClient) throws -> RunRecord? {
        let attempt = run.attempt + 1
        let job = ControlClient.escape(name)
        func detail() -> JobDetail? { try? client.call("GET", "/v1/jobs/\(job)", as: JobDetail.self) }
        var due = announced?.dueAt
        var backoffMax: Duration = .zero
        /// Whether the job holds this run's retry: paused or disabled, it starts none until
        /// resumed or enabled (`show` says the same).
        func holds(_ detail: JobDetail?) -> RetryHeld? {
            guard let detail, let retry = detail.retry, retry.retryOf.map({ $0 == run.id }) ?? (retry.attempt == attempt) else { return nil }
            if detail.job.state.paused { return RetryHeld(attempt: attempt, reason: "held while the job is paused: it starts at `schedctl resume`") }
            if !detail.job.spec.isEnabled { return RetryHeld(attempt: attempt, reason: "held while the job is disabled: it starts when enabled again") }
            return nil
        }
        if let held = holds(detail()) { throw held }
        if announced == nil {
            guard let detail = detail(), run.attempt <= detail.job.spec.effectiveRetries else { return nil }
            due = detail.retry.flatMap { ($0.retryOf.map { $0 == run.id } ?? ($0.attempt == attempt)) ? $0.dueAt : nil }
            backoffMax = detail.job.spec.effectiveRetryBackoffMax
        }
        if !global.json {
            // A due time already past (told late) is "now", never "ago".
            let when = due.map { $0.timeIntervalSinceNow >= 0.5 ? Output.when($0, wide: false) : "now" } ?? "next"
            note("\(name) run \(run.id): \(Self.describe(run)); retry (attempt \(attempt)) \(when)")
        }
        // Past it, a retry that is neither started nor waiting here counts as dropped (the job
        // changed or removed meanwhile): it may wait for a worker, or for another node's claim.
        let deadline = (due ?? (run.finishedAt ?? Date()).addingTimeInterval(Double(backoffMax.components.seconds))).addingTimeInterval(15)
        // The retry row names the attempt it follows: another failed run's retry (runs of
        // the job beside this one) is not this one's.
        func follows(_ retry: RunRecord) -> Bool {
            retry.trigger == .retry && (retry.retryOf.map { $0 == run.id } ?? (retry.id > run.id && retry.attempt == attempt))
        }
        func started() throws -> RunRecord? {
            let page = try client.call("GET", "/v1/runs?job=\(job)&limit=50", as: RunPage.self)
            return page.runs.last(where: follows)
        }
        var found: RunRecord?
        var gaveUp = false
        var held: RetryHeld?
        let decoder = APICoding.decoder()
        try client.stream("GET", "/v1/events?job=\(job)", onOpen: {
            // Subscribed first: a retry that starts after this look is heard of below.
            found = try started()
            return found == nil
        }, onQuiet: {
            if let retry = try started() {
                found = retry
                return false
            }
            let now = detail()
            held = holds(now)
            let waiting = now?.retry.map { $0.retryOf.map { $0 == run.id } ?? ($0.attempt == attempt) } ?? false
            gaveUp = !waiting && Date() >= deadline
            return !gaveUp && held == nil
        }) { data in
            guard let message = try? decoder.decode(EventMessage.self, from: Data(data.utf8)) else { return true }
            if message.type == "job_paused" {
                held = holds(detail())
                return held == nil
            }
            guard message.type == "run_started" || message.type == "run_finished", let retry = message.run, follows(retry) else { return true }
            found = retry
            return false
        }
        if found == nil, let held { throw held }
        // Ended by schedd, not given up here: its event streams end when it stops.
        if found == nil && !gaveUp && (try? client.call("GET", "/v1/status", as: StatusProbe.self)) == nil { throw SchedStopped() }
        if found == nil && !global.json { note("\(name): attempt \(attempt) did not start (the job was changed or removed, or schedd stopped)") }
        return found
    }

    /// The daemon ended the event stream of a retry being waited for, and answers no more.
    private struct SchedStopped: Error {}
    /// The retry being waited for is held by its job (paused or disabled): `reason` says until when.
    private struct RetryHeld: Error {
        let attempt: Int
        let reason: String
    }
    /// Any answer of `GET /v1/status` (whether schedd still answers).
    private struct StatusProbe: Decodable {}

    private func note(_ text: String) {
        FileHandle.standardError.write(Data("schedctl: \(text)\n".utf8))
    }

    /// "failed: exited with status 3", "timed_out".
    static func describe(_ run: RunRecord) -> String {
        "\(run.status.rawValue)\(Output.why(run).map { ": \($0)" } ?? "")"
    }

    static func exitCode(_ run: RunRecord) -> Int32 {
        switch run.status {
        case .succeeded: return 0
        case .timedOut: return 124
        case .failed:
            if let signal = run.signal { return 128 + signal }
            return run.exitCode.map { $0 == 0 ? 1 : $0 } ?? 1
        default: return 1
        }
    }
}
