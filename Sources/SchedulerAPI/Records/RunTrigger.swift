/// Why a run started, as stored in `runs.trigger`.
public enum RunTrigger: String, Sendable, Codable, CaseIterable {
    case schedule, manual, retry, restart, boot
    case catchUp = "catch_up"
    case dependency
}
