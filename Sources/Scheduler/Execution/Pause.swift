import Dispatch

/// Sleeping where cancellation must not cut the wait short: in a cancelled task `Task.sleep`
/// returns at once, so a loop that must go on (sweeping a stopped run's leftovers, draining at
/// shutdown) would spin instead of waiting.
enum Pause {
    static func ignoringCancellation(_ duration: Duration) async {
        let nanoseconds = Int(duration.components.seconds) * 1_000_000_000 + Int(duration.components.attoseconds / 1_000_000_000)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) { continuation.resume() }
        }
    }
}
