/// Where the final result of a run that ended as schedd stopped is applied (its job's failures
/// in a row, `on_failure`/`on_success`): the `reason` of a `final_result_deferred` event.
public enum FinalResultPlace: String, Sendable {
    /// At the daemon's next start.
    case nextStart = "next_start"
    /// By another node of the cluster, once this one has left.
    case anotherNode = "another_node"
}
