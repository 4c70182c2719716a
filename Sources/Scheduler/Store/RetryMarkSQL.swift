/// The conditions on `runs.retry_at` that every SQL store shares (SQLite and PostgreSQL read
/// them alike), for a run aliased `r`.
package enum RetryMarkSQL {
    /// `r`'s retry has its row: it started (or was recorded skipped). A mark that stands
    /// beside it was left by a crash between the retry's start and the clearing of the mark.
    /// A retry's row names the attempt it follows (`retry_of`, since schema 8); a retry row
    /// from before names none, and any of the job's with the next attempt after `r` counts.
    package static let retryStarted = """
        (EXISTS (SELECT 1 FROM runs n WHERE n.retry_of = r.id) \
        OR EXISTS (SELECT 1 FROM runs n WHERE n.job = r.job AND n.id > r.id AND n.trigger = 'retry' AND n.attempt = r.attempt + 1 \
        AND n.retry_of IS NULL))
        """

    /// `r`'s retry waits: marked, and not started.
    package static let pending = "r.retry_at IS NOT NULL AND NOT \(retryStarted)"

    /// `r` may be pruned as far as what follows its end goes: no retry of it waits, and its
    /// final result is applied (`policy_pending`).
    package static let prunable = "(r.policy_pending IS NULL AND (r.retry_at IS NULL OR \(retryStarted)))"
}
