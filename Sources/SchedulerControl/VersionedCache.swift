import Synchronization

/// One value computed at most once per version of what it is computed from (the database's
/// change count), however many requests ask at once: the first computes, the others that
/// come while it does wait for its result.
///
/// With 1,000 jobs, reading and encoding the job list takes milliseconds; 50 clients asking at
/// once would otherwise each do it.
actor VersionedCache<Value: Sendable> {
    /// The newest value computed; readable without entering the actor, so a hit costs no hop.
    private nonisolated let latest = Mutex<(version: UInt64, value: Value)?>(nil)
    private var computing: (version: UInt64, waiters: [CheckedContinuation<Value, any Error>])?

    /// The value for `version` or a newer one, computed by `make` if there is none.
    nonisolated func value(version: UInt64, make: @Sendable () async throws -> Value) async throws -> Value {
        if let hit = cached(atLeast: version) { return hit }
        return try await compute(version: version, make: make)
    }

    /// The newest value if it was computed for `version` or a newer one.
    nonisolated func cached(atLeast version: UInt64) -> Value? {
        latest.withLock { entry in entry.flatMap { $0.version >= version ? $0.value : nil } }
    }

    private func compute(version: UInt64, make: @Sendable () async throws -> Value) async throws -> Value {
        if let hit = cached(atLeast: version) { return hit }
        if let computing, computing.version >= version {
            return try await withCheckedThrowingContinuation { self.computing?.waiters.append($0) }
        }
        // A computation for an older version may still be going on: this one does not take its
        // waiters over, it only stores its own result if that is the newest.
        let leads = computing == nil
        if leads { computing = (version, []) }
        let result: Result<Value, any Error>
        do {
            result = .success(try await make())
        } catch {
            result = .failure(error)
        }
        if case let .success(value) = result {
            latest.withLock { entry in
                if (entry?.version ?? 0) <= version { entry = (version, value) }
            }
        }
        if leads, let done = computing {
            computing = nil
            for waiter in done.waiters { waiter.resume(with: result) }
        }
        return try result.get()
    }
}
