/// Whether a job is a supervised service, and when it is restarted.
public enum RestartPolicy: String, Sendable, CaseIterable {
    case no
    case onFailure = "on-failure"
    case always
}
