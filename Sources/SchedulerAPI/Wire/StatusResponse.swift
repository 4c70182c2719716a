import Foundation

/// `GET /v1/status`.
public struct StatusResponse: Sendable, Codable, Equatable {
    public struct Jobs: Sendable, Codable, Equatable {
        public var total: Int
        public var active: Int
        public var paused: Int
        public var failed: Int
        public var disabled: Int
        public init(total: Int, active: Int, paused: Int, failed: Int, disabled: Int) {
            self.total = total
            self.active = active
            self.paused = paused
            self.failed = failed
            self.disabled = disabled
        }
    }

    public var version: String
    public var pid: Int32
    public var startedAt: Date
    public var database: String
    public var workersBusy: Int
    public var workersTotal: Int
    public var queued: Int
    public var jobs: Jobs

    public init(version: String, pid: Int32, startedAt: Date, database: String, workersBusy: Int, workersTotal: Int, queued: Int, jobs: Jobs) {
        self.version = version
        self.pid = pid
        self.startedAt = startedAt
        self.database = database
        self.workersBusy = workersBusy
        self.workersTotal = workersTotal
        self.queued = queued
        self.jobs = jobs
    }

    private enum CodingKeys: String, CodingKey {
        case version, pid, startedAt = "started_at", database, workersBusy = "workers_busy"
        case workersTotal = "workers_total", queued, jobs
    }
}
