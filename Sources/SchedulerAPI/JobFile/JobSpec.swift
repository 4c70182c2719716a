/// One job definition, as validated from a job file, with the file's `defaults` already
/// applied. Optional fields left nil take the engine's defaults (see the `effective…` values).
public struct JobSpec: Sendable, Equatable {
    public var name: String
    public var action: JobAction
    public var description: String?
    /// Cron, macro, `@every`, or `@reboot` text; nil for services and trigger-only jobs.
    public var schedule: String?
    public var timezone: String?
    public var enabled: Bool?
    public var timeout: Duration?
    public var killGrace: Duration?
    public var retries: Int?
    public var retryBackoff: Duration?
    public var retryBackoffMax: Duration?
    public var maxConsecutiveFailures: Int?
    public var concurrency: ConcurrencyPolicy?
    public var catchUp: CatchUpPolicy?
    public var jitter: Duration?
    public var onFailure: String?
    public var onSuccess: String?
    public var env: [String: String]?
    public var workingDir: String?
    /// Cluster mode: the one node that runs this job (or service); nil: any node.
    public var node: String?
    public var user: String?
    public var group: String?
    public var restart: RestartPolicy?
    public var restartDelay: Duration?
    public var restartLimit: RestartLimit?
    /// The longest delay between restarts (`restart_delay` doubles up to it).
    public var restartDelayMax: Duration?
    /// A service up this long has its delay start again from `restart_delay`.
    public var restartResetAfter: Duration?
    public var outputLimit: Int64?
    /// Jobs that must have started (services: be ready; other jobs: have no run going on)
    /// before a run of this one starts, when they are starting at the same time.
    public var after: [String]?
    /// Services that must be ready for a run of this one to start.
    public var requires: [String]?
    /// How long a scheduled or triggered run waits for what it `requires` before it is
    /// recorded `skipped` (default 0: skipped at once). Services wait as long as it takes.
    public var requiresWait: Duration?
    /// A service without `ready_check` is ready once it has run this long.
    public var readyAfter: Duration?
    /// A command whose exit status 0 says that the service is ready.
    public var readyCheck: JobAction?
    public var readyInterval: Duration?
    /// A service not ready this long after its start is stopped, as a failed start.
    public var readyTimeout: Duration?

    public init(name: String, action: JobAction) {
        self.name = name
        self.action = action
    }

    public var isEnabled: Bool { enabled ?? true }

    /// Whether a run started from `other` would be the same process as one started from
    /// this definition: what it runs, as whom, where, with which environment, and under which
    /// limits. Left out is what only its supervision reads (restart rules, readiness, order,
    /// triggers, the description), which a running service takes up without a restart.
    package func startsTheSameRun(as other: JobSpec) -> Bool {
        action == other.action && env == other.env && workingDir == other.workingDir && user == other.user
            && group == other.group && timeout == other.timeout && outputLimit == other.outputLimit
    }
    public var isService: Bool { (restart ?? .no) != .no }
    public var effectiveKillGrace: Duration { killGrace ?? .seconds(10) }
    public var effectiveRetries: Int { retries ?? 0 }
    public var effectiveRetryBackoff: Duration { retryBackoff ?? .seconds(1) }
    public var effectiveRetryBackoffMax: Duration { retryBackoffMax ?? .seconds(300) }
    public var effectiveConcurrency: ConcurrencyPolicy { concurrency ?? .forbid }
    public var effectiveCatchUp: CatchUpPolicy { catchUp ?? .none }
    public var effectiveRestartDelay: Duration { restartDelay ?? .seconds(1) }
    public var effectiveRestartLimit: RestartLimit { restartLimit ?? .default }
    public var effectiveOutputLimit: Int64 { outputLimit ?? 64 * 1024 }
    public var effectiveRestartDelayMax: Duration { max(restartDelayMax ?? .seconds(60), effectiveRestartDelay) }
    public var effectiveRestartResetAfter: Duration { restartResetAfter ?? .seconds(300) }
    public var effectiveRequiresWait: Duration { requiresWait ?? .zero }
    public var effectiveReadyAfter: Duration { readyAfter ?? .seconds(1) }
    public var effectiveReadyInterval: Duration { readyInterval ?? .seconds(1) }
    public var effectiveReadyTimeout: Duration { readyTimeout ?? .seconds(60) }
    public var effectiveWorkingDir: String { workingDir ?? "/" }

    /// The names of the jobs this one triggers.
    public var triggeredJobs: [String] { [onFailure, onSuccess].compactMap { $0 } }

    /// The jobs this one is ordered after or requires, each once.
    public var dependencies: [String] {
        var seen = Set<String>()
        return ((requires ?? []) + (after ?? [])).filter { seen.insert($0).inserted }
    }

    /// Every job this one names (triggers, order, requirements), with the field that names it.
    /// The jobs this one's runs trigger when they end (`on_failure`, `on_success`).
    public var triggers: [String] {
        [onFailure, onSuccess].compactMap { $0 }.reduce(into: []) { if !$0.contains($1) { $0.append($1) } }
    }

    public var references: [(field: String, job: String)] {
        [("on_failure", onFailure), ("on_success", onSuccess)].compactMap { field, job in job.map { (field, $0) } }
            + (after ?? []).map { ("after", $0) } + (requires ?? []).map { ("requires", $0) }
    }
}
