import SchedulerAPI

/// Delays between attempts and between service restarts.
enum RetryPolicy {
    /// Backoff before attempt `attempt + 1` after attempt `attempt` failed: `base` doubling per
    /// attempt up to `maximum`, then "equal jitter" (a random point in the upper half), so that
    /// jobs failing together do not retry in lockstep. `random` is in [0, 1).
    static func retryDelay(afterAttempt attempt: Int, base: Duration, maximum: Duration, random: Double) -> Duration {
        let full = doubled(base, times: attempt - 1, cap: maximum)
        let ms = full.milliseconds
        return .milliseconds(ms / 2 + Int64(Double(ms - ms / 2) * random))
    }

    /// Delay before the `streak`-th restart in a row of a service (one that did not stay up for
    /// `restart_reset_after`): `restart_delay` doubling, at most `maximum` (`restart_delay_max`).
    static func restartDelay(base: Duration, streak: Int, maximum: Duration) -> Duration {
        doubled(base, times: max(0, streak - 1), cap: maximum)
    }

    static func doubled(_ base: Duration, times: Int, cap: Duration) -> Duration {
        var value = base
        for _ in 0..<max(0, times) {
            if value >= cap { break }
            value = value * 2
        }
        return min(value, max(cap, base))
    }
}
