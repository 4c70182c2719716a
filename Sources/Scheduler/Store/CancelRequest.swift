/// Another node's request to cancel a run of this node (cluster mode: `schedctl cancel` on
/// any node).
package struct CancelRequest: Sendable, Equatable {
    package var runID: Int64
    package var reason: String
    package var by: String?

    package init(runID: Int64, reason: String, by: String?) {
        self.runID = runID
        self.reason = reason
        self.by = by
    }
}
