import SchedulerAPI
import Synchronization

/// What the engine reports as it works: the source of `GET /v1/events` and of test waits.
public enum SchedulerEvent: Sendable, Equatable {
    case runQueued(job: String, trigger: RunTrigger)
    case runStarted(RunRecord)
    case runFinished(RunRecord)
    /// A failed attempt (`runID`) will be retried: published just before its `runFinished`,
    /// so that whoever follows the run knows a retry comes.
    case retryScheduled(job: String, runID: Int64, retry: RetryStatus)
    /// A run that ended as the engine stops, with no retry: its final result (its job's
    /// failures in a row, `on_failure` or `on_success`) is applied at the engine's next start,
    /// or with `byAnotherNode` (a cluster) by another node once this one has left. Published
    /// just before its `runFinished`, so that whoever follows the run knows.
    case finalResultDeferred(job: String, runID: Int64, byAnotherNode: Bool)
    /// `runID`: the run whose failure paused the job (`failure_threshold`), published just
    /// before that run's `runFinished`, so that whoever follows the run knows.
    case jobPaused(job: String, reason: String, runID: Int64? = nil)
    /// The end of run `runID` triggers `target`, the job its `field` (`on_failure`,
    /// `on_success`) names: published just before its `runFinished`, so that whoever follows the
    /// run knows. (Whether `target` then runs is its own: paused, busy under `forbid`…)
    case followUp(job: String, runID: Int64, field: String, target: String)
    case jobResumed(job: String)
    /// A chunk of a running run's output; `offset` is where it starts in the run's whole
    /// output. Only subscribers that asked for output get these.
    case runOutput(job: String, runID: Int64, offset: Int64, bytes: [UInt8], stream: StandardStream)
}

extension SchedulerEvent {
    /// The most bytes of output one merged chunk holds.
    package static let mergedOutputLimit = 64 << 10

    /// Takes `next` into `last` when both are output of one run and stream and `next` starts
    /// where `last` ends (a follower then gets one chunk where the job made many writes).
    package static func mergeOutput(_ last: inout SchedulerEvent, _ next: SchedulerEvent) -> Bool {
        guard case .runOutput(let job, let runID, let offset, var bytes, let stream) = last,
              case let .runOutput(_, nextRun, nextOffset, more, nextStream) = next,
              runID == nextRun, stream == nextStream, offset + Int64(bytes.count) == nextOffset,
              bytes.count + more.count <= mergedOutputLimit else { return false }
        // The event lets go of the bytes first, so that the append below does not copy them.
        last = .jobResumed(job: "")
        bytes.append(contentsOf: more)
        last = .runOutput(job: job, runID: runID, offset: offset, bytes: bytes, stream: stream)
        return true
    }
}
