/// What a job runs.
public enum JobAction: Sendable, Equatable {
    /// An argv array; `argv[0]` is looked up in `PATH` unless absolute.
    case command([String])
    /// A string run by `/bin/sh -c`.
    case shell(String)
    /// The name of an in-process handler registered by an embedding program, with its params.
    case handler(String, params: JSONValue?)
}

/// What happens when a job is triggered while one of its runs is still active.
public enum ConcurrencyPolicy: String, Sendable, CaseIterable {
    /// The new trigger is recorded as a `skipped` run (the default).
    case forbid
    /// Runs overlap.
    case allow
    /// The active run is cancelled and the new one starts.
    case replace
}

/// What to do about fire times missed while the daemon was down.
public enum CatchUpPolicy: String, Sendable, CaseIterable {
    case none, once, all
}

/// Whether a job is a supervised service, and when it is restarted.
public enum RestartPolicy: String, Sendable, CaseIterable {
    case no
    case onFailure = "on-failure"
    case always
}

/// More than `burst` starts within `interval` puts a service in state `failed`.
public struct RestartLimit: Sendable, Equatable {
    public var burst: Int
    public var interval: Duration
    /// What a service without `restart_limit` gets: 5 starts in 60 s. With the default delay
    /// (1 s doubling: starts at 0, 1, 3, 7, 15 s) a program that exits at once is `failed` about
    /// 15 s after its first start; a window shorter than the delays could never be filled.
    public static let `default` = RestartLimit(burst: 5, interval: .seconds(60))
    public init(burst: Int, interval: Duration) {
        self.burst = burst
        self.interval = interval
    }
}

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
    public var user: String?
    public var group: String?
    public var restart: RestartPolicy?
    public var restartDelay: Duration?
    public var restartLimit: RestartLimit?
    public var outputLimit: Int64?

    public init(name: String, action: JobAction) {
        self.name = name
        self.action = action
    }

    public var isEnabled: Bool { enabled ?? true }
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
    public var effectiveWorkingDir: String { workingDir ?? "/" }

    /// The names of the jobs this one triggers.
    public var triggeredJobs: [String] { [onFailure, onSuccess].compactMap { $0 } }
}

extension Duration {
    /// Whole milliseconds, rounded toward zero.
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
