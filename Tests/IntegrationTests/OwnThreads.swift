import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Runs each test of a suite on threads of its own, a few tests at a time.
///
/// The integration tests are synchronous: they wait for processes, poll the daemon and sleep
/// between polls. Run as Swift Testing runs them by default, on the cooperative pool, which has
/// one thread per core, two of them blocked that pool for everything else in the test process
/// on a two-core machine: engine tests waiting on a deadline timed out, and one of them then
/// waited for ever. Under this trait their blocking runs on threads that are not the pool's,
/// and at most `limit` of them run at once, so that the daemons they start do not starve one
/// another either.
struct OwnThreadsTrait: SuiteTrait, TestTrait, TestScoping {
    static let limit = 3

    var isRecursive: Bool { true }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        // Called for the suite too (no test case): only a test's body is moved.
        guard testCase != nil else { return try await function() }
        await IntegrationSlots.shared.acquire()
        defer { IntegrationSlots.shared.release() }
        try await withTaskExecutorPreference(ThreadPerJobExecutor.shared) {
            try await function()
        }
    }
}

extension Trait where Self == OwnThreadsTrait {
    /// Runs each test on threads of its own, off the cooperative pool (see `OwnThreadsTrait`).
    static var ownThreads: Self { OwnThreadsTrait() }
}

/// A task executor that runs each job on a new thread: a job of a synchronous test may block
/// for seconds, and must not hold a thread anything else needs.
final class ThreadPerJobExecutor: TaskExecutor {
    static let shared = ThreadPerJobExecutor()

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        let thread = Thread {
            // No signal blocked: a thread made by a Dispatch worker inherits its mask, and the
            // processes a test starts from it would inherit it in turn (a SIGTERM to them would
            // wait for ever).
            var none = sigset_t()
            sigemptyset(&none)
            pthread_sigmask(SIG_SETMASK, &none, nil)
            job.runSynchronously(on: executor)
        }
        thread.stackSize = 8 << 20
        thread.start()
    }
}

/// How many integration tests run at once: a counting semaphore whose waiters suspend.
final class IntegrationSlots: Sendable {
    static let shared = IntegrationSlots(OwnThreadsTrait.limit)

    private struct State {
        var free: Int
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Mutex<State>

    init(_ count: Int) {
        state = Mutex(State(free: count))
    }

    func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                if state.free > 0 {
                    state.free -= 1
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.free += 1
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}
