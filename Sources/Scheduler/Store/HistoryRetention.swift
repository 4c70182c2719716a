import Foundation
import Logging
import ServiceLifecycle

/// Prunes run history in the background (`--history-keep`, `--history-max-age`): once at
/// start, then at a fixed interval, in small transactions that never hold up dispatch.
public struct HistoryRetention<C: Clock>: Service where C.Duration == Duration {
    public let runs: RunStore
    public let keepPerJob: Int?
    public let maxAge: Duration?
    public let interval: Duration
    public let clock: C
    public let logger: Logger

    public init(runs: RunStore, keepPerJob: Int?, maxAge: Duration?, interval: Duration = .seconds(600), clock: C, logger: Logger) {
        self.runs = runs
        self.keepPerJob = keepPerJob
        self.maxAge = maxAge
        self.interval = interval
        self.clock = clock
        self.logger = logger
    }

    public func run() async throws {
        guard keepPerJob != nil || maxAge != nil else { return }
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            await pruneOnce()
            // Graceful shutdown cancels the sleep, which ends the loop.
            do {
                try await cancelWhenGracefulShutdown { try await clock.sleep(for: interval) }
            } catch {
                return
            }
        }
    }

    /// One pruning pass; failures are logged and retried at the next interval.
    public func pruneOnce() async {
        let cutoff = maxAge.map { Date().addingTimeInterval(-Double($0.milliseconds) / 1000) }
        do {
            let deleted = try await runs.prune(keepPerJob: keepPerJob, olderThan: cutoff)
            if deleted > 0 {
                logger.info("pruned run history", metadata: ["schedd.deleted": "\(deleted)"])
            }
        } catch {
            logger.error("pruning run history failed", metadata: ["schedd.error": "\(error)"])
        }
    }
}
