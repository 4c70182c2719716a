import Logging
import Scheduler
import SchedulerAPI
import ServiceLifecycle
import UnixSignals

/// Re-applies the `--config` job file on each SIGHUP. A bad file is refused and logged; the
/// jobs already applied stay as they were.
struct ConfigReloader: Service {
    let loader: JobFileLoader
    let engine: JobScheduler
    let logger: Logger

    func run() async throws {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in hangups {
                do {
                    let result = try await loader.apply()
                    await engine.reloadJobs()
                    logger.info("reloaded job file", metadata: ScheddCommand.metadata(loader.path, result))
                } catch {
                    logger.error("job file refused on reload; the jobs stay as they were",
                                 metadata: ["schedd.file": "\(loader.path)", "schedd.error": "\(error)"])
                }
            }
        }
    }
}
