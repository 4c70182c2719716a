/// An in-process job: an async closure registered under a name that jobs refer to with
/// `"handler"`. Throwing fails the run; cancellation (timeout, cancel, shutdown) cancels the task.
public typealias JobHandler = @Sendable (JobContext) async throws -> Void
