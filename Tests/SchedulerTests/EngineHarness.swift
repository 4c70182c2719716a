import Foundation
import Logging
import Synchronization
import Testing
@testable import Scheduler
import SchedulerAPI

/// Every event an engine published, for tests to wait on.
actor EventLog {
    private(set) var events: [SchedulerEvent] = []

    func append(_ event: SchedulerEvent) { events.append(event) }

    var finished: [RunRecord] {
        events.compactMap { if case let .runFinished(r) = $0 { return r } else { return nil } }
    }

    var started: [RunRecord] {
        events.compactMap { if case let .runStarted(r) = $0 { return r } else { return nil } }
    }
}

/// A store whose first write of a start of `job` waits until the returned gate opens, so that
/// a test can act while that run is out of the pool and not active yet; `asked` is set once
/// the write waits.
func storeHoldingFirstStart(of job: String) -> (store: MemoryStore, writing: Gate, asked: StopFlag) {
    let writing = Gate()
    let asked = StopFlag()
    let store = MemoryStore(beforeStarts: { starts in
        if starts.contains(where: { $0.job == job }) && !asked.isSet {
            asked.set()
            try? await writing.wait()
        }
    })
    return (store, writing, asked)
}

/// A gate handlers wait on until the test opens it; it stays open. Waiting is cancellable,
/// like real work.
final class Gate: Sendable {
    private struct State {
        var open = false
        var nextID = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    func open() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.open = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        waiters.forEach { $0.resume() }
    }

    func wait() async throws {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.open || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
        try Task.checkCancellation()
    }
}

/// Polls `condition` (async work going on elsewhere) for up to `seconds` of real time: a way
/// out, not a measure. Roomy, because the synchronous integration tests running beside these
/// hold the test process's threads for seconds at a time (a 10 s wait ran out once in a full
/// run while the engine it waited for had no thread).
func waitFor(_ what: String, seconds: Double = 30, _ condition: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(5))
    }
    if try await condition() { return }
    Issue.record("timed out waiting for: \(what)")
    throw CancellationError()
}

struct TestError: Error, CustomStringConvertible {
    var description: String { "handler failed on purpose" }
}

/// Runs an engine on a fresh store (in memory unless given) with the given jobs, for the
/// duration of `body`, then shuts it down and waits for it to stop.
func withEngine(
    jobs: String,
    handlers: [String: JobHandler] = [:],
    clock: any SchedulerClock = ManualClock(t0),
    configuration: JobScheduler.Configuration = JobScheduler.Configuration(workers: 4, shutdownGrace: .seconds(5), defaultTimeZone: "UTC"),
    random: @escaping @Sendable () -> Double = { 0 },
    commandExecutor: (any JobExecutor)? = nil,
    store: any SchedulerStore = MemoryStore(),
    prepare: (any SchedulerStore) async throws -> Void = { _ in },
    _ body: (JobScheduler, EventLog, any SchedulerStore) async throws -> Void
) async throws {
    var context = ValidationContext(runningAsRoot: true)
    context.handlers = Set(handlers.keys)
    _ = try await store.applyJobs(try JobFile(data: Array(jobs.utf8), context: context), prune: false, dryRun: false, now: clock.now(),
                                  source: nil, origin: .api(), protectedFile: nil)
    try await prepare(store)
    var logger = Logger(label: "test", factory: { StreamLogHandler.standardError(label: $0) })
    logger.logLevel = .critical
    let engine = JobScheduler(store: store, handlers: handlers, configuration: configuration,
                              clock: clock, logger: logger, commandExecutor: commandExecutor, random: random)
    let log = EventLog()
    let stream = engine.events.subscribe()
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { for await event in stream { await log.append(event) } }
        group.addTask { try await engine.run() }
        // Wait until the engine has loaded its jobs before the test moves the clock.
        try await waitFor("the engine to start") { await engine.isReady }
        do {
            try await body(engine, log, store)
        } catch {
            engine.shutdown()
            group.cancelAll()
            throw error
        }
        engine.shutdown()
        if let manual = clock as? ManualClock { manual.advance(by: 3600) }
        try await group.next()
        group.cancelAll()
    }
}

/// Advances a manual clock in steps until `condition` holds. With `engine`, each step waits
/// for the engine to be idle (what was due has been done) before the next, so that the clock
/// never runs ahead of a loaded engine (under load it did, and a restart window or a later
/// slot was passed before the engine had counted what the test was about). Pass it wherever
/// no run holds a worker while it waits on the clock (services hold none); a run that does,
/// such as one left to time out, would hold the barrier for ever.
func drive(_ clock: ManualClock, engine: JobScheduler? = nil, step: TimeInterval = 0.5, maxSteps: Int = 2000, until what: String,
           _ condition: () async -> Bool) async throws {
    for _ in 0..<maxSteps {
        if await condition() { return }
        clock.advance(by: step)
        try await Task.sleep(for: .milliseconds(2))
        await engine?.untilIdle()
    }
    if await condition() { return }
    Issue.record("the condition never held: \(what)")
    throw CancellationError()
}

/// Runs `job` by hand and waits for its first attempt to fail (the only run to end so far),
/// then for the engine to be idle after it.
func firstAttemptFails(_ job: String, _ engine: JobScheduler, _ log: EventLog) async throws {
    _ = try await engine.runNow(job)
    try await waitFor("the first attempt to fail") { await log.finished.count == 1 }
    await engine.untilIdle()
}

extension StoreReader {
    /// A slice of history with the runs' output.
    func history(_ query: HistoryQuery) async throws -> [RunRecord] {
        try await history(query, withOutput: true)
    }
}

/// Runs `serve` (a long-lived part's loop) beside `body`, then calls `stop` and waits for
/// `serve` to return, whether `body` threw or not.
func whileServing(_ serve: @escaping @Sendable () async -> Void, stop: () -> Void, _ body: () async throws -> Void) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await serve() }
        do {
            try await body()
        } catch {
            stop()
            throw error
        }
        stop()
        try await group.waitForAll()
    }
}
