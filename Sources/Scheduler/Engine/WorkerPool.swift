/// The bounded pool's bookkeeping: at most `capacity` runs at once; further runs wait in FIFO
/// order. The engine's task group does the running; this says what may start.
struct WorkerPool {
    let capacity: Int
    private(set) var queue: [RunRequest] = []
    private(set) var busy = 0

    init(capacity: Int) { self.capacity = max(1, capacity) }

    mutating func enqueue(_ request: RunRequest) { queue.append(request) }

    /// The next waiting run, if a worker is free; it then counts as busy.
    mutating func nextToStart() -> RunRequest? {
        guard busy < capacity, !queue.isEmpty else { return nil }
        busy += 1
        return queue.removeFirst()
    }

    mutating func finished() { busy -= 1 }

    func queued(job: String) -> Int { queue.reduce(0) { $0 + ($1.spec.name == job ? 1 : 0) } }

    /// Drops waiting runs (of one job, or all); they have no rows yet, so nothing is lost.
    @discardableResult
    mutating func removeQueued(job: String? = nil) -> Int {
        let before = queue.count
        queue.removeAll { job == nil || $0.spec.name == job }
        return before - queue.count
    }
}
