/// The pool's bookkeeping: at most `capacity` runs at once; further runs wait in FIFO order.
/// The engine's task group does the running; this says what may start. Every operation is
/// O(1) amortized, so a burst of thousands of triggers costs nothing per run.
struct WorkerPool {
    let capacity: Int
    /// Waiting runs are `storage[head...]`; the consumed prefix is dropped now and then.
    private var storage: [RunRequest] = []
    private var head = 0
    private var waitingByJob: [String: Int] = [:]
    private(set) var busy = 0

    init(capacity: Int) { self.capacity = max(1, capacity) }

    var queuedCount: Int { storage.count - head }

    mutating func enqueue(_ request: RunRequest) {
        storage.append(request)
        waitingByJob[request.spec.name, default: 0] += 1
    }

    /// The next waiting run, if a worker is free; it then counts as busy.
    mutating func nextToStart() -> RunRequest? {
        guard busy < capacity, head < storage.count else { return nil }
        let request = storage[head]
        head += 1
        waitingByJob[request.spec.name, default: 1] -= 1
        if head >= 1024 && head * 2 >= storage.count {
            storage.removeFirst(head)
            head = 0
        }
        busy += 1
        return request
    }

    mutating func finished() { busy -= 1 }

    func queued(job: String) -> Int { waitingByJob[job] ?? 0 }

    /// Drops waiting runs (of one job, or all); they have no rows yet, so nothing is lost.
    @discardableResult
    mutating func removeQueued(job: String? = nil) -> Int {
        let waiting = storage[head...]
        let kept = waiting.filter { job != nil && $0.spec.name != job }
        for request in waiting where !(job != nil && request.spec.name != job) {
            request.startSignal?.resolve(nil)
        }
        let removed = waiting.count - kept.count
        storage = Array(kept)
        head = 0
        waitingByJob = [:]
        for request in storage { waitingByJob[request.spec.name, default: 0] += 1 }
        return removed
    }
}
