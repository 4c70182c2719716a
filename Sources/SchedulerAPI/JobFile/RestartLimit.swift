/// When a service gives up restarting: more than `burst` starts within `interval` puts it in
/// state `failed`; `none` never gives up.
public enum RestartLimit: Sendable, Equatable {
    /// `"restart_limit": "none"`: restarted for ever, the delay capped by `restart_delay_max`.
    case none
    case limited(burst: Int, interval: Duration)

    /// What a service without `restart_limit` gets: 5 starts in 60 s. With the default delay
    /// (1 s doubling: starts at 0, 1, 3, 7, 15 s) a program that exits at once is `failed` about
    /// 15 s after its first start; a window shorter than the delays could never be filled.
    public static let `default` = RestartLimit(burst: 5, interval: .seconds(60))

    public init(burst: Int, interval: Duration) {
        self = .limited(burst: burst, interval: interval)
    }
}
