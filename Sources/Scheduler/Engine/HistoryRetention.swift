import Foundation
import Logging
import ServiceLifecycle

/// Prunes run history in the background (`--history-keep`, `--history-max-age`): a minute
/// after start (out of the way of loading the jobs), then at a fixed interval, in small
/// transactions that never hold up dispatch.
public struct HistoryRetention<C: Clock>: Service where C.Duration == Duration {
    public let engine: JobScheduler
    public let keepPerJob: Int?
    public let maxAge: Duration?
    public let interval: Duration
    /// Before the first pass.
    public let firstDelay: Duration
    public let clock: C
    public let logger: Logger

    public init(engine: JobScheduler, keepPerJob: Int?, maxAge: Duration?, interval: Duration = .seconds(600),
                firstDelay: Duration = .seconds(60), clock: C, logger: Logger) {
        self.engine = engine
        self.keepPerJob = keepPerJob
        self.maxAge = maxAge
        self.interval = interval
        self.firstDelay = firstDelay
        self.clock = clock
        self.logger = logger
    }

    public func run() async throws {
        guard keepPerJob != nil || maxAge != nil else { return }
        var delay = firstDelay
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            // Graceful shutdown cancels the sleep, which ends the loop.
            do {
                try await cancelWhenGracefulShutdown { [delay] in try await clock.sleep(for: delay) }
            } catch {
                return
            }
            await pruneOnce()
            delay = interval
        }
    }

    /// One pruning pass; failures are logged and retried at the next interval.
    public func pruneOnce() async {
        let cutoff = maxAge.map { Date().addingTimeInterval(-Double($0.milliseconds) / 1000) }
        do {
            let deleted = try await engine.pruneHistory(keepPerJob: keepPerJob, olderThan: cutoff)
            if deleted > 0 {
                logger.info("pruned run history", metadata: ["schedd.deleted": .stringConvertible(deleted)])
            }
        } catch {
            logger.error("pruning run history failed", metadata: ["schedd.error": "\(error)"])
        }
    }
}
