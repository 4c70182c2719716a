import Logging
import Scheduler
import SchedulerControl
import SchedulerAPI
import ServiceLifecycle
import UnixSignals

/// Re-applies the `--config` job file on each SIGHUP. A bad file is refused, logged and shown
/// in systemd's STATUS=; the jobs already applied keep running as they were.
struct ConfigReloader: Service {
    let loader: JobFileLoader
    let engine: JobScheduler
    let notifier: SystemdNotifier
    let status: JobFileReloads
    let logger: Logger

    func run() async throws {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in hangups {
                await reload()
            }
        }
    }

    func reload() async {
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
