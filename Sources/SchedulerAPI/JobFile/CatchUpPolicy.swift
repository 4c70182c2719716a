/// What to do about fire times missed while the daemon was down.
public enum CatchUpPolicy: String, Sendable, CaseIterable {
    case none, once, all
}
