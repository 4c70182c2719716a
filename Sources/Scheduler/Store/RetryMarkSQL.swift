/// The conditions on `runs.retry_at` that every SQL store shares (SQLite and PostgreSQL read
/// them alike), for a run aliased `r`.
package enum RetryMarkSQL {
    /// `r`'s retry has its row: it started. A mark that stands beside it was left by a crash
    /// between the retry's start and the clearing of the mark.
    package static let retryStarted = """
        EXISTS (SELECT 1 FROM runs n WHERE n.job = r.job AND n.id > r.id AND n.trigger = 'retry' AND n.attempt = r.attempt + 1)
        """

    /// `r`'s retry waits: marked, and not started.
    package static let pending = "r.retry_at IS NOT NULL AND NOT \(retryStarted)"

    /// `r` may be pruned as far as its retry goes: none waits.
    package static let prunable = "(r.retry_at IS NULL OR \(retryStarted))"
}
