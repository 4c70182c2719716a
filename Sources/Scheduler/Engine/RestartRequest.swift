/// Why a service's active run is being stopped to start it again at once, which decides how
/// the new run is recorded.
enum RestartRequest: Sendable, Equatable {
    /// `schedctl restart`: a manual run, started by who asked (`runs.triggered_by`).
    case byHand(String?)
    /// A reload or apply changed what it runs: a `restart`, as after the service ended.
    case redefined
}
