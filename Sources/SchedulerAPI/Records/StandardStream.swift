/// Which of a process's output streams bytes came from.
public enum StandardStream: String, Sendable, Codable, CaseIterable {
    case stdout, stderr
}
