import Logging
import Scheduler
import SchedulerControl
import SchedulerAPI
import ServiceLifecycle
import UnixSignals

/// Re-applies the `--config` job file on each SIGHUP. A bad file is refused, logged and shown
/// in systemd's STATUS=; the jobs already applied keep running as they were.
struct ConfigReloader: Service {
    /// The `--config` file and what its reloads said; nil without one. SIGHUP is trapped all
    /// the same: its default action ended schedd on the spot (`systemctl reload` of a unit
    /// without --config), its runs abandoned, nothing recorded of their ends.
    let file: (loader: JobFileLoader, status: JobFileReloads)?
    let engine: JobScheduler
    let notifier: SystemdNotifier
    let logger: Logger

    func run() async throws {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in hangups {
                guard let file else {
                    logger.warning("SIGHUP ignored: schedd runs without --config, there is no job file to reload")
                    continue
                }
                await reload(file.loader, file.status)
            }
        }
    }

    func reload(_ loader: JobFileLoader, _ status: JobFileReloads) async {
        notifier.send("RELOADING=1\nMONOTONIC_USEC=\(SystemdNotifier.monotonicMicroseconds())")
        do {
            let result = try await engine.apply(loader, prune: true)
            Malloc.trim()
            status.succeeded()
            logger.info("reloaded job file", metadata: result.logMetadata.merging(["schedd.file": "\(loader.path)"]) { a, _ in a })
        } catch {
            let message = (error as? APIError)?.description ?? "\(error)"
            if JobFileReloads.isRefusal(error) { status.refused(message) }
            logger.error("job file refused on reload; the jobs stay as they were",
                         metadata: ["schedd.file": "\(loader.path)", "schedd.error": "\(message)"])
        }
        notifier.send("READY=1\nSTATUS=\(status.statusLine(await engine.summary()))")
    }
}
