/// Why a service is being stopped, and who asked (`runs.cancelled_by` of its run), while it
/// waits for what depends on it to stop first (`JobScheduler.stopQueue`).
struct ServiceStop: Sendable {
    var reason: String
    /// Who asked over the control socket; nil when schedd stops it by itself.
    var by: String?

    init(_ reason: String, by caller: String? = nil) {
        self.reason = reason
        self.by = caller
    }
}
