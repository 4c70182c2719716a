/// A write done at most once, by the first caller that waits for it; later callers wait for
/// that one and get its result. Nothing runs until someone waits.
actor OnceWrite {
    private enum State {
        case pending(@Sendable () async throws -> Void)
        case running([CheckedContinuation<Void, any Error>])
        case done((any Error)?)
    }

    private var state: State

    init(_ write: @escaping @Sendable () async throws -> Void) {
        state = .pending(write)
    }

    func run() async throws {
        switch state {
        case .pending(let write):
            state = .running([])
            var failure: (any Error)?
            do { try await write() } catch { failure = error }
            guard case .running(let waiters) = state else { return }
            state = .done(failure)
            for waiter in waiters {
                if let failure { waiter.resume(throwing: failure) } else { waiter.resume() }
            }
            if let failure { throw failure }
        case .running(var waiters):
            // The write in progress finishes whatever happens to this caller: it waits for it.
            try await withCheckedThrowingContinuation { continuation in
                waiters.append(continuation)
                state = .running(waiters)
            }
        case .done(let failure):
            if let failure { throw failure }
        }
    }
}
