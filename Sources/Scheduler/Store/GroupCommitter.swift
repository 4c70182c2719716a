import GRDB
import Synchronization

/// Group commit: writes submitted while a transaction is being written are committed together
/// in the next one, so that many runs share one fsync. Each write still returns only once its
/// transaction is durable, and runs in its own savepoint, so one failing write does not undo
/// the others.
///
/// No task leads the batches: the first writer to find the committer idle hands a batch to
/// GRDB's writer queue, and each batch's completion, still on that queue, takes the next
/// batch and queues it behind itself, until none is waiting. A leading task would cost a
/// thread hand-off per batch (the writer queue resuming it, then it queueing the next batch)
/// and would tie other tasks' writes to its own cancellation. Queueing each batch anew
/// rather than looping lets other accesses to the writer queue in between.
/// Batches are taken in the order writes were submitted, so a write is never committed
/// before one submitted ahead of it.
/// A lock rather than an actor: entering an actor and leaving it again were two thread
/// hand-offs on every write, twice per run.
final class GroupCommitter: Sendable {
    private let pool: DatabasePool
    private let queue = Mutex<(pending: [Entry], writing: Bool)>(([], false))
    private let changes: ChangeCounter

    init(pool: DatabasePool, changes: ChangeCounter) {
        self.pool = pool
        self.changes = changes
    }

    /// One submitted write and, once written, its result.
    final class Entry: Sendable {
        let operation: @Sendable (Database) throws -> any Sendable
        private let state = Mutex<(result: Result<any Sendable, any Error>?, waiter: CheckedContinuation<any Sendable, any Error>?)>((nil, nil))

        init(_ operation: @escaping @Sendable (Database) throws -> any Sendable) { self.operation = operation }

        func complete(_ result: Result<any Sendable, any Error>) {
            let waiter = state.withLock { state -> CheckedContinuation<any Sendable, any Error>? in
                state.result = result
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(with: result)
        }

        func value() async throws -> any Sendable {
            try await withCheckedThrowingContinuation { continuation in
                let done = state.withLock { state -> Result<any Sendable, any Error>? in
                    if let result = state.result { return result }
                    state.waiter = continuation
                    return nil
                }
                if let done { continuation.resume(with: done) }
            }
        }
    }

    func write<T: Sendable>(_ operation: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let entry = Entry { db in try operation(db) }
        submit([entry])
        // swiftlint:disable:next force_cast
        return try await entry.value() as! T
    }

    /// Two writes committed in the same batch (each in its own savepoint: one failing leaves
    /// the other), each with its own result.
    func write<A: Sendable, B: Sendable>(_ first: @escaping @Sendable (Database) throws -> A,
                                         _ second: @escaping @Sendable (Database) throws -> B) async -> (Result<A, any Error>, Result<B, any Error>) {
        let entries = (Entry { db in try first(db) }, Entry { db in try second(db) })
        submit([entries.0, entries.1])
        // swiftlint:disable force_cast
        let a = await catching { try await entries.0.value() as! A }
        let b = await catching { try await entries.1.value() as! B }
        // swiftlint:enable force_cast
        return (a, b)
    }

    /// Queues a write without waiting for it: it is committed in the next batch, and so never
    /// after a write submitted later. Someone must then wait on it (or `write`).
    func queue(_ operation: @escaping @Sendable (Database) throws -> Void) -> StoreWrite {
        let entry = Entry { db in try operation(db) }
        queue.withLock { $0.pending.append(entry) }
        return StoreWrite { [self] in
            do {
                try await flush(until: entry)
            } catch {
                throw storeError(error)
            }
        }
    }

    /// Queues `entries` together (so in one batch) and, if no batch is being written, starts
    /// writing.
    private func submit(_ entries: [Entry]) {
        let starts = queue.withLock { queue -> Bool in
            queue.pending.append(contentsOf: entries)
            guard !queue.writing else { return false }
            queue.writing = true
            return true
        }
        if starts { writeNextBatch() }
    }

    /// Starts writing what is queued unless a batch is being written, and waits for `entry`.
    func flush(until entry: Entry) async throws {
        let starts = queue.withLock { queue -> Bool in
            guard !queue.writing, !queue.pending.isEmpty else { return false }
            queue.writing = true
            return true
        }
        if starts { writeNextBatch() }
        _ = try await entry.value()
    }

    /// Takes the waiting writes as one batch and queues its transaction on the writer queue;
    /// with none waiting, marks the committer idle. Only whoever set `writing` (a submitter,
    /// or the completion of the batch before) calls it.
    private func writeNextBatch() {
        let batch = queue.withLock { queue -> [Entry] in
            let batch = queue.pending
            queue.pending = []
            if batch.isEmpty { queue.writing = false }
            return batch
        }
        if batch.isEmpty { return }
        pool.asyncWrite({ db in
            batch.map { entry in
                var result: Result<any Sendable, any Error> = .failure(CancellationError())
                do {
                    try db.inSavepoint {
                        result = .success(try entry.operation(db))
                        return .commit
                    }
                } catch {
                    result = .failure(error)
                }
                return result
            }
        }, completion: { [self] _, outcome in
            switch outcome {
            case let .success(results):
                changes.bump()
                for (entry, result) in zip(batch, results) { entry.complete(result) }
            case let .failure(error):
                for entry in batch { entry.complete(.failure(error)) }
            }
            writeNextBatch()
        })
    }
}
