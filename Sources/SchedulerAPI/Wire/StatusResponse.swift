import Foundation

/// `GET /v1/status`.
public struct StatusResponse: Sendable, Codable, Equatable {
    public struct Jobs: Sendable, Codable, Equatable {
        public var total: Int
        public var active: Int
        public var paused: Int
        public var failed: Int
        public var disabled: Int
        /// The jobs that need attention: services past their restart limit (`failed`), jobs
        /// paused by `max_consecutive_failures`, jobs whose stored definition no longer
        /// validates (`invalid`) and jobs that name a job they cannot use (`broken_reference`).
        /// `schedctl status` exits 1 when there is one.
        public var problems: [Problem]
        /// The counts of `infos` by `JobSummary.state(of:)`, and their problems by name.
        public init(counting infos: [JobInfo]) {
            let states = infos.map(JobSummary.state(of:))
            self.init(total: infos.count, active: states.count { $0 == "active" }, paused: states.count { $0 == "paused" },
                      failed: states.count { $0 == "failed" }, disabled: states.count { $0 == "disabled" },
                      problems: infos.sorted { $0.name < $1.name }.compactMap(StatusResponse.problem(of:)))
        }

        public init(total: Int, active: Int, paused: Int, failed: Int, disabled: Int, problems: [Problem] = []) {
            self.total = total
            self.active = active
            self.paused = paused
            self.failed = failed
            self.disabled = disabled
            self.problems = problems
        }
    }

    /// A job that makes the daemon unhealthy, and why.
    /// Whether `info` is one of the jobs that need attention, and as what.
    public static func problem(of info: JobInfo) -> Problem? {
        if let problem = info.problem { return Problem(job: info.name, state: "invalid", reason: problem) }
        guard info.state.paused, let reason = info.state.pauseReason, reason == "restart_limit" || reason == "failure_threshold" else {
            return nil
        }
        return Problem(job: info.name, state: JobSummary.state(of: info), reason: reason)
    }

    public struct Problem: Sendable, Codable, Equatable {
        public var job: String
        /// `failed`, `paused`, `invalid` (its stored definition no longer validates, so it
        /// does not run: it was edited by hand in the database), or `broken_reference` (it
        /// names, in `on_failure`, `on_success`, `after` or `requires`, a job that a change it
        /// was not part of removed, or in `requires` made a plain job: a reload or prune of the
        /// job file, an apply).
        public var state: String
        /// `restart_limit` or `failure_threshold`; for `invalid` and `broken_reference`, what is wrong.
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
    /// Runs (services aside) waiting for a job they are ordered after or a service they
    /// require, before they may take a worker (`list` says what each waits for); absent when none.
    public var held: Int?
    /// Services running; they hold no worker.
    public var servicesRunning: Int
    public var jobs: Jobs
    /// How the processes of runs are found and stopped: `cgroup` (one per run, below
    /// `detail`) or `proc` (by a marker in their environment; `detail` says why not cgroups).
    public var processTracking: ProcessTracking?

    public struct ProcessTracking: Sendable, Codable, Equatable {
        public var mode: String
        public var detail: String
        /// With `cgroup`: the program a run enters its cgroup through (`schedd-cgroup-exec`,
        /// or `/bin/sh` where it is not installed, which is slower).
        public var entry: String?
        public init(mode: String, detail: String, entry: String? = nil) {
            self.mode = mode
            self.detail = detail
            self.entry = entry
        }
    }

    /// Set while the database refuses writes (a full disk, an I/O error), or writes it refused
    /// (runs' ends, jobs' states) are kept in memory until it takes them.
    public var databaseProblem: DatabaseProblem?

    /// The zone schedules that name none are read in: the host's, followed when it changes,
    /// unless schedd was given one (`--timezone`); in cluster mode, the cluster's.
    public var timeZone: String?

    /// Set while schedd shuts down (SIGTERM): no run starts, and those going on have until the
    /// end of the grace period.
    public var shuttingDown: ShuttingDown?

    public struct ShuttingDown: Sendable, Codable, Equatable {
        /// When the runs still going on are stopped; nil once that has begun.
        public var graceEndsAt: Date?
        /// Runs (services among them) still going on.
        public var runs: Int

        public init(graceEndsAt: Date?, runs: Int) {
            self.graceEndsAt = graceEndsAt
            self.runs = runs
        }

        private enum CodingKeys: String, CodingKey {
            case graceEndsAt = "grace_ends_at", runs
        }
    }

    public struct DatabaseProblem: Sendable, Codable, Equatable {
        /// The database's last error; nil once writes go through again.
        public var error: String?
        /// Since when writes have failed in a row.
        public var since: Date?
        /// Ends of runs not written yet: their rows still say `running`.
        public var unwrittenRunEnds: Int
        /// Jobs whose state (a pause, a failure count, a fire time) is not written yet.
        public var unwrittenJobStates: Int
        /// `skipped` runs not written yet: fires and triggers that did not run, among them
        /// those whose start the database refused.
        public var unwrittenSkippedRuns: Int

        public init(error: String?, since: Date?, unwrittenRunEnds: Int, unwrittenJobStates: Int, unwrittenSkippedRuns: Int = 0) {
            self.error = error
            self.since = since
            self.unwrittenRunEnds = unwrittenRunEnds
            self.unwrittenJobStates = unwrittenJobStates
            self.unwrittenSkippedRuns = unwrittenSkippedRuns
        }

        private enum CodingKeys: String, CodingKey {
            case error, since, unwrittenRunEnds = "unwritten_run_ends", unwrittenJobStates = "unwritten_job_states"
            case unwrittenSkippedRuns = "unwritten_skipped_runs"
        }
    }

    /// The `--config` job file (to an admin; nil without one), with its last reload when that
    /// was refused.
    public var configFile: ConfigFile?

    public struct ConfigFile: Sendable, Codable, Equatable {
        public var path: String
        /// When it was last refused (a reload: SIGHUP or `schedctl reload`; or the daemon's start,
        /// with a database that holds jobs already): the jobs stay as they were applied before.
        /// Nil when its last apply succeeded.
        public var reloadRefusedAt: Date?
        /// Why: the refusal, with the file's errors one per line.
        public var reloadError: String?

        public init(path: String, reloadRefusedAt: Date? = nil, reloadError: String? = nil) {
            self.path = path
            self.reloadRefusedAt = reloadRefusedAt
            self.reloadError = reloadError
        }

        private enum CodingKeys: String, CodingKey {
            case path, reloadRefusedAt = "reload_refused_at", reloadError = "reload_error"
        }
    }

    /// Whether nothing needs attention (`jobs.problems` is empty, there is no
    /// `databaseProblem`, and the job file's last reload was not refused): what `schedctl
    /// status`'s exit code says. Set by the initializer; sent so that a health check reads one
    /// field.
    public private(set) var healthy: Bool

    public init(version: String, pid: Int32, startedAt: Date, database: String, workersBusy: Int, workersTotal: Int, queued: Int,
                queuedJobs: [String] = [], held: Int? = nil, servicesRunning: Int = 0, jobs: Jobs, processTracking: ProcessTracking? = nil,
                databaseProblem: DatabaseProblem? = nil, timeZone: String? = nil, shuttingDown: ShuttingDown? = nil, configFile: ConfigFile? = nil) {
        self.configFile = configFile
        self.shuttingDown = shuttingDown
        self.processTracking = processTracking
        self.timeZone = timeZone
        self.databaseProblem = databaseProblem
        self.version = version
        self.pid = pid
        self.startedAt = startedAt
        self.database = database
        self.workersBusy = workersBusy
        self.workersTotal = workersTotal
        self.queued = queued
        self.queuedJobs = queuedJobs
        self.held = held
        self.servicesRunning = servicesRunning
        self.jobs = jobs
        healthy = jobs.problems.isEmpty && databaseProblem == nil && configFile?.reloadRefusedAt == nil
    }

    private enum CodingKeys: String, CodingKey {
        case version, pid, startedAt = "started_at", database, workersBusy = "workers_busy"
        case workersTotal = "workers_total", queued, queuedJobs = "queued_jobs", held, servicesRunning = "services_running", jobs, healthy
        case processTracking = "process_tracking", databaseProblem = "database_problem", timeZone = "time_zone"
        case shuttingDown = "shutting_down", configFile = "config_file"
    }
}
