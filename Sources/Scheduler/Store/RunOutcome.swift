import Foundation
import SchedulerAPI

/// How a run ended: what `RunStore.finish` writes into its row.
public struct RunOutcome: Sendable, Equatable {
    public var status: RunStatus
    public var finishedAt: Date
    public var exitCode: Int32?
    public var signal: Int32?
    public var output: String?
    public var outputTruncated: Bool
    /// Which stream each part of `output` came from; nil when all of it is stdout.
    public var outputStreams: [OutputSegment]?
    /// Every byte of output the run printed, kept or not, when known: where the kept `output`
    /// ends in it (a follower on another node of a cluster prints what it had not yet seen).
    public var outputBytes: Int64?
    public var error: String?
    /// The pid of the run's process, when it had one.
    public var pid: Int32?
    /// The CPU time the run's processes used, where schedd could measure it (a cgroup per run).
    public var cpuMs: Int64?

    /// Who cancelled the run over the control socket, if anyone did.
    public var cancelledBy: String?

    /// How long the run took, when the wall clock was stepped while it ran (its start and end
    /// are then in two times, and their difference is off by the step); nil: the difference.
    public var durationMs: Int64?

    /// When the failed attempt's retry is due, if it has one: written with the run's end
    /// (`runs.retry_at`), so that no crash falls between the end and its retry's mark.
    public var retryAt: Date?

    /// A success that ends its trigger, whose job's failures in a row a store shared by several
    /// nodes sets back to 0 in the same write as the end (one statement for the turn's ends,
    /// instead of a call per run after it). Other stores count them in the engine, and leave it.
    package var resetsFailuresInARow = false

    /// An end written while the engine stops, with no retry, that leaves its trigger's final
    /// result (failures in a row, `on_failure`/`on_success`) for the next start: marked in the
    /// same write as the end (`runs.policy_pending`, for this node), so that no crash falls
    /// between the end and its mark.
    package var leavesFinalResult = false

    public init(status: RunStatus, finishedAt: Date, exitCode: Int32? = nil, signal: Int32? = nil,
                output: String? = nil, outputTruncated: Bool = false, outputStreams: [OutputSegment]? = nil,
                error: String? = nil, pid: Int32? = nil, cpuMs: Int64? = nil) {
        self.cpuMs = cpuMs
        self.outputStreams = outputStreams
        self.pid = pid
        self.status = status
        self.finishedAt = finishedAt
        self.exitCode = exitCode
        self.signal = signal
        self.output = output
        self.outputTruncated = outputTruncated
        self.error = error
    }

    /// The outcome as a store keeps it: NUL characters in the output (a process wrote them)
    /// become U+FFFD, since neither SQLite's text as read back nor PostgreSQL's text holds them.
    package var storable: RunOutcome {
        guard let output, output.utf8.contains(0) else { return self }
        var outcome = self
        outcome.output = output.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}")
        return outcome
    }

    /// `run` as this outcome finishes it (what the stores write).
    package func applied(to run: RunRecord) -> RunRecord {
        var run = run
        run.status = status
        run.finishedAt = finishedAt
        run.durationMs = durationMs ?? Self.durationMs(from: run.startedAt, to: finishedAt)
        run.exitCode = exitCode
        run.signal = signal
        run.output = output
        run.outputTruncated = outputTruncated
        run.outputStreams = outputStreams
        run.error = error
        run.pid = pid ?? run.pid
        run.cpuMs = cpuMs
        run.cancelledBy = cancelledBy
        return run
    }

    /// Whole milliseconds from a run's start to its end, never negative: between the times as
    /// stored (each rounded to the millisecond), so that it agrees with them.
    package static func durationMs(from start: Date, to end: Date) -> Int64 {
        func ms(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
        return max(0, ms(end) - ms(start))
    }
}
