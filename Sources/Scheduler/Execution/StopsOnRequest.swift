/// An executor that ends a run by itself when asked through `ExecutionRequest.stop`, keeping
/// what the run prints while it stops; the engine then waits for it instead of cancelling it.
/// Any other executor is stopped by cancelling its task.
protocol StopsOnRequest: JobExecutor {}
