/// The pool's bookkeeping: at most `capacity` runs of scheduled and triggered jobs at once;
/// further runs wait in FIFO order. Services are not bounded by it: a service runs for as long
/// as the daemon does, so counting it against the workers would starve every scheduled job
/// (with 10 services and 2 workers, 8 services never started). Their number is bounded by the
/// job set instead, and they start as soon as they are asked for.
///
/// The engine's task group does the running; this says what may start. Every operation is
/// O(1) amortized, so a burst of thousands of triggers costs nothing per run.
struct WorkerPool {
    let capacity: Int
    /// Runs that may wait for a worker at once (`canQueue`).
    let maxQueued: Int
    /// Waiting runs are `storage[head...]`; the consumed prefix is dropped now and then.
    private var storage: [RunRequest] = []
    private var head = 0
    private var waitingByJob: [String: Int] = [:]
    /// Service starts not yet handed out: they never wait for a worker.
    private var serviceStarts: [RunRequest] = []
    /// Moves on whenever a job starts or stops having runs wait for a worker, so that what
    /// shows the queue per job (`schedctl list`) knows to look again.
    private(set) var waitingVersion: UInt64 = 0
    /// Runs of scheduled and triggered jobs holding a worker.
    private(set) var busy = 0
    /// Service runs going on (outside the workers).
    private(set) var services = 0

    init(capacity: Int, maxQueued: Int = .max) {
        self.capacity = max(1, capacity)
        self.maxQueued = max(1, maxQueued)
    }

    var queuedCount: Int { storage.count - head }

    /// Whether nothing holds a worker and no service run is going on.
    var isIdle: Bool { busy == 0 && services == 0 }

    /// Workers neither busy nor promised to a run waiting for one.
    var free: Int { max(0, capacity - busy - queuedCount) }

    /// Whether a run enqueued now would have to wait for a worker.
    var isFull: Bool { free == 0 }

    /// Whether a run may be enqueued: it starts at once, or the queue has room (services
    /// always may).
    func canQueue(_ request: RunRequest) -> Bool {
        request.spec.isService || busy < capacity || queuedCount < maxQueued
    }

    mutating func enqueue(_ request: RunRequest) {
        if request.spec.isService {
            serviceStarts.append(request)
            return
        }
        storage.append(request)
        waitingByJob[request.spec.name, default: 0] += 1
        if waitingByJob[request.spec.name] == 1 { waitingVersion &+= 1 }
    }

    /// The next run that may start (a service at once; another run if a worker is free); it
    /// then counts as running.
    mutating func nextToStart() -> RunRequest? {
        if !serviceStarts.isEmpty {
            services += 1
            return serviceStarts.removeFirst()
        }
        guard busy < capacity, head < storage.count else { return nil }
        let request = storage[head]
        head += 1
        waitingByJob[request.spec.name, default: 1] -= 1
        if waitingByJob[request.spec.name] == 0 {
            waitingByJob[request.spec.name] = nil
            waitingVersion &+= 1
        }
        if head >= 1024 && head * 2 >= storage.count {
            storage.removeFirst(head)
            head = 0
        }
        busy += 1
        return request
    }

    /// Gives a free worker to a run that never waits in the pool: a queued slot this node
    /// claimed in the store, whose row already says it runs here (dropping it from the pool
    /// would leave that row `running`). Claims are never more than `free`.
    mutating func startClaimed(_ request: RunRequest) {
        precondition(!request.spec.isService && busy < capacity, "a claimed run needs a free worker")
        busy += 1
    }

    /// A run handed out by `nextToStart` or `startClaimed` has ended.
    mutating func finished(_ request: RunRequest) {
        if request.spec.isService { services -= 1 } else { busy -= 1 }
    }

    /// Runs waiting for a worker whose job `matches`.
    func queued(where matches: (String) -> Bool) -> Int {
        var count = 0
        for request in storage[head...] where matches(request.spec.name) { count += 1 }
        return count
    }

    /// The first run waiting for a worker that `matches`.
    func firstQueued(where matches: (RunRequest) -> Bool) -> RunRequest? {
        storage[head...].first(where: matches)
    }

    /// The runs waiting for a worker that `matches`, in order.
    func allQueued(where matches: (RunRequest) -> Bool) -> [RunRequest] {
        storage[head...].filter(matches)
    }

    func queued(job: String) -> Int { (waitingByJob[job] ?? 0) + serviceStarts.lazy.filter { $0.spec.name == job }.count }

    /// How many runs of each job wait for a worker (jobs with none are absent).
    var waitingCounts: [String: Int] { waitingByJob }

    /// The jobs with runs waiting for a worker, oldest first, each once.
    func waitingJobs(limit: Int) -> [String] {
        var seen = Set<String>()
        var names: [String] = []
        for request in storage[head...] where seen.insert(request.spec.name).inserted {
            names.append(request.spec.name)
            if names.count == limit { break }
        }
        return names
    }

    /// Drops waiting runs (of one job, or all), and returns them: they have no rows yet.
    /// Whoever waits for one of them to start hears `reason`.
    @discardableResult
    mutating func removeQueued(job: String? = nil, reason: String) -> [RunRequest] {
        removeQueued(where: { job == nil || $0.spec.name == job }, reason: reason)
    }

    /// Drops the waiting runs that `matches`, and returns them.
    @discardableResult
    mutating func removeQueued(where matches: (RunRequest) -> Bool, reason: String) -> [RunRequest] {
        let waiting = storage[head...]
        let kept = waiting.filter { !matches($0) }
        for request in waiting where matches(request) { request.startSignal?.drop(reason) }
        for request in serviceStarts where matches(request) { request.startSignal?.drop(reason) }
        let removed = waiting.filter(matches) + serviceStarts.filter(matches)
        serviceStarts.removeAll(where: matches)
        storage = Array(kept)
        head = 0
        waitingByJob = [:]
        for request in storage { waitingByJob[request.spec.name, default: 0] += 1 }
        if !removed.isEmpty { waitingVersion &+= 1 }
        return removed
    }
}
