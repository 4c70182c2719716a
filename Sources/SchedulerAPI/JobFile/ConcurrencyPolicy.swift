/// What happens when a job is triggered while one of its runs is still active.
public enum ConcurrencyPolicy: String, Sendable, CaseIterable {
    /// The new trigger is recorded as a `skipped` run (the default).
    case forbid
    /// Runs overlap.
    case allow
    /// The active run is cancelled and the new one starts.
    case replace
}
