import Logging
import Scheduler
import SchedulerControl
import ServiceLifecycle
import UnixSignals

/// The engine as the daemon runs it: tells systemd when it is ready and how it is doing,
/// pings the watchdog from the engine's own actor (a wedged engine stops the pings), and
/// turns a second SIGTERM or SIGINT into "stop the runs now".
struct DaemonService: Service {
    let engine: JobScheduler
    let notifier: SystemdNotifier
    /// The `--config` file's reloads, whose refusal `STATUS=` tells.
    let jobFile: JobFileReloads?
    let logger: Logger

    func run() async throws {
        let notifier = self.notifier
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await engine.run() }
                group.addTask { await heartbeat() }
                group.addTask { await escalateOnSecondSignal() }
                try await group.next()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            notifier.send("STOPPING=1\nSTATUS=stopping: runs finish, then schedd exits")
        }
    }

    /// READY=1 once the engine has loaded its jobs and started its services, then STATUS= (and
    /// WATCHDOG=1 when asked) at a steady pace.
    func heartbeat() async {
        while !(await engine.isReady) {
            guard (try? await Task.sleep(for: .milliseconds(20))) != nil else { return }
        }
        let summary = await engine.summary()
        // Loading a large job file leaves freed heap that glibc keeps, and SQLite page caches;
        // a daemon that idles for days should not carry its start-up peak. (SQLite's release
        // happens on its own queues: the heap is trimmed again at the first heartbeat.)
        engine.reader.releaseMemoryEventually()
        Malloc.trim()
        var trimmedAgain = false
        notifier.send("READY=1\nSTATUS=\(jobFile?.statusLine(summary) ?? summary)")
        logger.info("ready", metadata: ["schedd.status": "\(summary)"])
        let pace = min(notifier.watchdogInterval ?? .seconds(5), .seconds(5))
        // Also while shutting down (the status says so): this task ends when the engine has
        // drained and the group cancels it, never before, which would cut the drain short.
        while !Task.isCancelled {
            guard (try? await Task.sleep(for: pace)) != nil else { return }
            if !trimmedAgain {
                Malloc.trim()
                trimmedAgain = true
            }
            // Asking the actor is the liveness check: a wedged engine never answers.
            let summary = await engine.summary()
            var message = "STATUS=\(jobFile?.statusLine(summary) ?? summary)"
            if notifier.watchdogInterval != nil { message += "\nWATCHDOG=1" }
            notifier.send(message)
        }
    }

    /// The first signal starts the graceful shutdown (ServiceGroup handles it); the next one
    /// ends the grace period. Counted, not judged by whether a shutdown is under way: this
    /// sequence sees the first signal too, and the group may already have told this service of
    /// the shutdown when it does (the first SIGTERM was then taken for a second one, and a
    /// run that had 30 s of grace was stopped at once).
    func escalateOnSecondSignal() async {
        var signals = 0
        for await _ in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
            signals += 1
            guard signals >= 2 else { continue }
            logger.notice("second stop signal: stopping active runs now")
            engine.hurryShutdown()
        }
    }
}
