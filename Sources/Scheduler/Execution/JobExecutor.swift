import Foundation
import Logging
import SchedulerAPI

/// Runs one attempt of a job. Cancelling the calling task stops the attempt: the executor
/// returns (or throws `CancellationError`) once it has stopped.
public protocol JobExecutor: Sendable {
    func execute(_ request: ExecutionRequest) async throws -> ExecutionOutcome
}
