import SchedulerAPI

/// Runs jobs whose action is `handler`: in-process closures registered by the embedding program.
public struct HandlerExecutor: JobExecutor {
    public let handlers: [String: JobHandler]

    public init(handlers: [String: JobHandler]) {
        self.handlers = handlers
    }

    public func execute(_ request: ExecutionRequest) async throws -> ExecutionOutcome {
        guard case let .handler(name, params) = request.spec.action else {
            return ExecutionOutcome(ending: .failed("not a handler job"))
        }
        guard let handler = handlers[name] else {
            return ExecutionOutcome(ending: .failed("no handler named \"\(name)\" is registered"))
        }
        let sink = request.output
        var logger = request.logger
        // The engine's run logger carries it already.
        if logger[metadataKey: "schedd.handler"] == nil { logger[metadataKey: "schedd.handler"] = "\(name)" }
        let context = JobContext(job: request.spec.name, runID: request.runID, attempt: request.attempt,
                                 scheduledAt: request.scheduledAt, node: request.node, params: params, logger: logger, sink: sink)
        let ending: ExecutionOutcome.Ending
        do {
            try await handler(context)
            ending = .returned
        } catch is CancellationError where Task.isCancelled {
            // Stopped by its timeout or a cancel: the caller records how.
            throw CancellationError()
        } catch {
            // Including a CancellationError the handler threw of its own accord: a failure.
            ending = .failed("\(error)")
        }
        let tail = sink.snapshot
        return ExecutionOutcome(ending: ending, tail: tail)
    }
}
