import Scheduler
import SchedulerAPI

/// The events of a run on another node of a cluster, for `GET /v1/events?run=ID`: this node's
/// engine sees none of them, so they are read from the run's row, which the run's node writes
/// while it is asked to (`StoreReader.followOutput`): the output as it grows, then the end.
struct RemoteRunEvents: Sendable {
    let store: any StoreReader
    let run: RunRecord
    let withOutput: Bool

    /// How often the row is read.
    static let pollInterval: Duration = .milliseconds(250)
    /// How often the run's node is asked again (an ask lasts 10 s).
    static let askInterval: Duration = .seconds(3)

    /// Yields the run's output and then its `run_finished`, and finishes; stops when cancelled
    /// (the client went away) or when the run's row is gone.
    func pump(into continuation: AsyncStream<SchedulerEvent>.Continuation) async {
        defer { continuation.finish() }
        var sentUpTo: Int64 = 0
        // The route asked once already.
        var asked = ContinuousClock.now
        while !Task.isCancelled {
            if withOutput, ContinuousClock.now - asked >= Self.askInterval {
                // A failed ask is asked again next time; the row is read meanwhile.
                _ = try? await store.followOutput(runID: run.id)
                asked = ContinuousClock.now
            }
            do {
                guard let soFar = try await store.outputSoFar(runID: run.id) else { return }
                if withOutput {
                    for part in soFar.parts(after: &sentUpTo) {
                        continuation.yield(.runOutput(job: run.job, runID: run.id, offset: part.offset, bytes: part.bytes, stream: part.stream))
                    }
                }
                if soFar.status.isFinal {
                    // As the run's own node tells it: the retry first, so that a follower knows
                    // one comes.
                    if let retry = soFar.retry { continuation.yield(.retryScheduled(job: run.job, runID: run.id, retry: retry)) }
                    if let final = try await store.run(id: run.id) { continuation.yield(.runFinished(final)) }
                    return
                }
            } catch {
                // The database is away for a moment: read again at the next poll. A client
                // that gives up asks for the run's record itself.
            }
            try? await Task.sleep(for: Self.pollInterval)
        }
    }
}
