import Foundation

/// `GET /v1/status`.
public struct StatusResponse: Sendable, Codable, Equatable {
    public struct Jobs: Sendable, Codable, Equatable {
        public var total: Int
        public var active: Int
        public var paused: Int
        public var failed: Int
        public var disabled: Int
        /// The jobs that need attention: services past their restart limit (`failed`) and jobs
        /// paused by `max_consecutive_failures`. `schedctl status` exits 1 when there is one.
        public var problems: [Problem]
        public init(total: Int, active: Int, paused: Int, failed: Int, disabled: Int, problems: [Problem] = []) {
            self.total = total
            self.active = active
            self.paused = paused
            self.failed = failed
            self.disabled = disabled
            self.problems = problems
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            total = try c.decode(Int.self, forKey: .total)
            active = try c.decode(Int.self, forKey: .active)
            paused = try c.decode(Int.self, forKey: .paused)
            failed = try c.decode(Int.self, forKey: .failed)
            disabled = try c.decode(Int.self, forKey: .disabled)
            problems = try c.decodeIfPresent([Problem].self, forKey: .problems) ?? []
        }

        private enum CodingKeys: String, CodingKey { case total, active, paused, failed, disabled, problems }
    }

    /// A job that makes the daemon unhealthy, and why.
    public struct Problem: Sendable, Codable, Equatable {
        public var job: String
        /// `failed` or `paused`.
        public var state: String
        /// `restart_limit` or `failure_threshold`.
        public var reason: String
        public init(job: String, state: String, reason: String) {
            self.job = job
            self.state = state
            self.reason = reason
        }
    }

    public var version: String
    public var pid: Int32
    public var startedAt: Date
    public var database: String
    public var workersBusy: Int
    public var workersTotal: Int
    public var queued: Int
    /// The first few jobs with runs waiting for a worker, oldest first.
    public var queuedJobs: [String]
    /// Services running; they hold no worker.
    public var servicesRunning: Int
    public var jobs: Jobs

    /// Whether no job needs attention: what `schedctl status`'s exit code says.
    public var healthy: Bool { jobs.problems.isEmpty }

    public init(version: String, pid: Int32, startedAt: Date, database: String, workersBusy: Int, workersTotal: Int, queued: Int,
                queuedJobs: [String] = [], servicesRunning: Int = 0, jobs: Jobs) {
        self.version = version
        self.pid = pid
        self.startedAt = startedAt
        self.database = database
        self.workersBusy = workersBusy
        self.workersTotal = workersTotal
        self.queued = queued
        self.queuedJobs = queuedJobs
        self.servicesRunning = servicesRunning
        self.jobs = jobs
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.decode(String.self, forKey: .version)
        pid = try c.decode(Int32.self, forKey: .pid)
        startedAt = try c.decode(Date.self, forKey: .startedAt)
        database = try c.decode(String.self, forKey: .database)
        workersBusy = try c.decode(Int.self, forKey: .workersBusy)
        workersTotal = try c.decode(Int.self, forKey: .workersTotal)
        queued = try c.decode(Int.self, forKey: .queued)
        queuedJobs = try c.decodeIfPresent([String].self, forKey: .queuedJobs) ?? []
        servicesRunning = try c.decodeIfPresent(Int.self, forKey: .servicesRunning) ?? 0
        jobs = try c.decode(Jobs.self, forKey: .jobs)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(version, forKey: .version)
        try c.encode(pid, forKey: .pid)
        try c.encode(startedAt, forKey: .startedAt)
        try c.encode(database, forKey: .database)
        try c.encode(workersBusy, forKey: .workersBusy)
        try c.encode(workersTotal, forKey: .workersTotal)
        try c.encode(queued, forKey: .queued)
        try c.encode(queuedJobs, forKey: .queuedJobs)
        try c.encode(servicesRunning, forKey: .servicesRunning)
        try c.encode(jobs, forKey: .jobs)
        try c.encode(healthy, forKey: .healthy)
    }

    private enum CodingKeys: String, CodingKey {
        case version, pid, startedAt = "started_at", database, workersBusy = "workers_busy"
        case workersTotal = "workers_total", queued, queuedJobs = "queued_jobs", servicesRunning = "services_running", jobs, healthy
    }
}
