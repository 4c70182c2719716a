import Foundation
import SchedulerAPI

/// What the engine could not write to its store (a full disk, an I/O error, a lock held past
/// the busy timeout), kept in memory and written again until the store takes it: the ends of
/// runs, which would otherwise stay `running` in the history for good, jobs' states (a pause,
/// a failure count), which would otherwise be undone by the next start, and the runs that did
/// not start because their start could not be written, recorded as `skipped` with that reason
/// so that the history has no silent gap.
///
/// Bounded: while the store refuses every write no run starts (a run starts only once its start
/// is written), so only the runs already going can add an end, and each fire adds a skip; past
/// `maxEnds` and `maxSkips` the oldest are given up, logged as lost.
struct UnwrittenWrites {
    /// The most run ends kept (each holds its output's tail, up to its `output_limit`), and
    /// the most skips.
    static let maxEnds = 1_000
    static let maxSkips = 1_000
    static let firstRetry: Duration = .seconds(1)
    /// At most this long between tries: once the disk has room, what is kept is written soon.
    static let maxRetry: Duration = .seconds(5)

    /// Run ends not written yet, oldest first.
    private(set) var ends: [(run: RunRecord, outcome: RunOutcome)] = []
    /// Jobs whose state is not written as the engine holds it; their current state is written.
    private(set) var jobs: Set<String> = []
    /// Skipped runs not written yet, oldest first.
    private(set) var skips: [RunSkip] = []
    /// Skips given up to stay within `maxSkips`, not yet said in the log.
    private(set) var skipsDropped = 0
    /// Whether a write of them is under way (what it took is out of `ends` and `jobs`).
    private(set) var writing = false
    /// The jobs of the write under way.
    private var writingJobs: Set<String> = []
    /// Every job whose state the store may not hold as the engine does: kept, or being written.
    var jobsNotWritten: Set<String> { writingJobs.isEmpty ? jobs : jobs.union(writingJobs) }
    /// When to write them again.
    private(set) var retryAt: Date?
    private var backoff = firstRetry
    /// The store's failure, since the first write it refused in a row; nil once a write went through.
    private(set) var failure: (message: String, since: Date)?

    var isEmpty: Bool { ends.isEmpty && jobs.isEmpty && skips.isEmpty }

    /// When a write of what is kept is due and none is under way; nil when nothing is kept.
    var deadline: Date? { isEmpty || writing ? nil : retryAt }

    func isDue(at now: Date) -> Bool { deadline.map { $0 <= now } ?? false }

    /// A write failed: what it carried is kept (`ends` in their order, ahead of those that
    /// ended after them), to be tried again after the backoff. Returns the ends given up to
    /// stay within the bound.
    mutating func failed(_ error: any Error, ends failedEnds: [(run: RunRecord, outcome: RunOutcome)] = [],
                         jobs failedJobs: some Sequence<String> = [String](), at now: Date) -> [(run: RunRecord, outcome: RunOutcome)] {
        noteFailure(error, at: now)
        let known = Set(ends.map(\.run.id))
        ends = (failedEnds.filter { !known.contains($0.run.id) } + ends).sorted { $0.run.id < $1.run.id }
        jobs.formUnion(failedJobs)
        if retryAt == nil { retryAt = now.addingTimeInterval(Self.seconds(backoff)) }
        let over = ends.count - Self.maxEnds
        guard over > 0 else { return [] }
        let dropped = Array(ends.prefix(over))
        ends.removeFirst(over)
        return dropped
    }

    /// Skipped runs the store refused, or runs whose starts it refused (as skips): kept like
    /// ends, the oldest given up past `maxSkips`.
    mutating func failed(_ error: any Error, skips failedSkips: [RunSkip], at now: Date) {
        noteFailure(error, at: now)
        skips = (failedSkips + skips).sorted { $0.at < $1.at }
        if retryAt == nil { retryAt = now.addingTimeInterval(Self.seconds(backoff)) }
        if skips.count > Self.maxSkips {
            skipsDropped += skips.count - Self.maxSkips
            skips.removeFirst(skips.count - Self.maxSkips)
        }
    }

    /// Some write failed (a start, a skip): the store is failing, nothing more is kept.
    mutating func noteFailure(_ error: any Error, at now: Date) {
        failure = (message: "\(error)", since: failure?.since ?? now)
    }

    /// A write went through: the store takes writes again, so what is kept is written at once.
    mutating func noteSuccess(at now: Date) {
        failure = nil
        backoff = Self.firstRetry
        if !isEmpty { retryAt = now }
    }

    /// The wall clock was stepped: the next try keeps its distance.
    mutating func shift(by step: TimeInterval) {
        retryAt = retryAt?.addingTimeInterval(step)
    }

    /// What `take` hands to a write.
    struct Taken {
        var ends: [(run: RunRecord, outcome: RunOutcome)]
        var jobs: Set<String>
        var skips: [RunSkip]
        /// Skips given up since the last take.
        var skipsDropped: Int
    }

    /// Takes what is kept for a write; `finished` says how it went.
    mutating func take() -> Taken {
        defer {
            writingJobs = jobs
            ends = []
            jobs = []
            skips = []
            skipsDropped = 0
            writing = true
            retryAt = nil
        }
        return Taken(ends: ends, jobs: jobs, skips: skips, skipsDropped: skipsDropped)
    }

    /// The write of what `take` returned is over: on failure what it carried is kept again and
    /// the next try waits twice as long (at most `maxRetry`).
    mutating func finished(_ taken: Taken, error: (any Error)?, at now: Date) -> [(run: RunRecord, outcome: RunOutcome)] {
        writing = false
        writingJobs = []
        guard let error else {
            noteSuccess(at: now)
            return []
        }
        backoff = min(backoff * 2, Self.maxRetry)
        retryAt = nil
        let dropped = failed(error, ends: taken.ends, jobs: taken.jobs, at: now)
        failed(error, skips: taken.skips, at: now)
        skipsDropped += taken.skipsDropped
        retryAt = now.addingTimeInterval(Self.seconds(backoff))
        return dropped
    }

    private static func seconds(_ duration: Duration) -> TimeInterval { Double(duration.milliseconds) / 1000 }
}
