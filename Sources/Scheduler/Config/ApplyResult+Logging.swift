import Logging
import SchedulerAPI

extension ApplyResult {
    /// What an apply changed, as log metadata (counts as numbers): the daemon logs it for its
    /// job file and for every apply over the API.
    public var logMetadata: Logger.Metadata {
        var metadata: Logger.Metadata = [
            "schedd.created": .stringConvertible(created.count), "schedd.updated": .stringConvertible(updated.count),
            "schedd.unchanged": .stringConvertible(unchanged.count), "schedd.removed": .stringConvertible(removed.count),
        ]
        if let claimed { metadata["schedd.claimed"] = "\(claimed.joined(separator: ","))" }
        return metadata
    }
}
