/// A subscription to the engine's events that its holder can end: once ended, `events` yields
/// what was already queued for it and then finishes. A control stream that ends at shutdown
/// ends it so: the engine stops first, and the ends of its last runs, published by then, still
/// reach the client (`schedctl run --wait` hears its run's end instead of a closed socket).
public struct EventSubscription: Sendable {
    /// The events published since the subscription began.
    public let events: AsyncStream<SchedulerEvent>
    /// Ends the subscription; nothing published after it is queued. It holds the subscription
    /// only weakly: a dropped `events` ends it anyway.
    public let end: @Sendable () -> Void
}
