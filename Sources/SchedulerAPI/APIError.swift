/// The one public error of `SchedulerAPI`, and the body of every error the control API sends:
/// `{"error":{"code":"…","message":"…"}}`. Codes are stable; messages are for people.
public struct APIError: Error, Sendable, Equatable, Codable, CustomStringConvertible {
    /// A stable, machine-readable error code.
    public struct Code: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// A job file (or a single job) failed validation; `issues` lists every problem.
        public static let invalidJobFile = Code(rawValue: "invalid_job_file")
        /// A schedule expression could not be parsed.
        public static let invalidSchedule = Code(rawValue: "invalid_schedule")
        /// A request argument was malformed.
        public static let invalidArgument = Code(rawValue: "invalid_argument")
        /// The named job or run does not exist.
        public static let notFound = Code(rawValue: "not_found")
        /// The request conflicts with the current state (e.g. a removed job that others trigger).
        public static let conflict = Code(rawValue: "conflict")
        /// The caller may not do this (a user asking for an admin's verb), or is over a limit.
        public static let forbidden = Code(rawValue: "forbidden")
        /// The database was written by a newer schedd, or cannot be opened.
        public static let databaseUnusable = Code(rawValue: "database_unusable")
        /// The database (a cluster's PostgreSQL) did not answer in time or cannot be reached.
        public static let databaseUnavailable = Code(rawValue: "database_unavailable")
        /// Anything unexpected; the message says what.
        public static let `internal` = Code(rawValue: "internal")
    }

    public var code: Code
    public var message: String
    /// Every problem found, for `invalid_job_file`; empty otherwise.
    public var issues: [ValidationIssue]

    public init(_ code: Code, _ message: String, issues: [ValidationIssue] = []) {
        self.code = code
        self.message = message
        self.issues = issues
    }

    public var description: String {
        if issues.isEmpty { return message }
        return ([message] + issues.map(\.description)).joined(separator: "\n  ")
    }

    private enum CodingKeys: String, CodingKey { case code, message, issues }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        code = try c.decode(Code.self, forKey: .code)
        message = try c.decode(String.self, forKey: .message)
        issues = try c.decodeIfPresent([ValidationIssue].self, forKey: .issues) ?? []
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(code, forKey: .code)
        try c.encode(message, forKey: .message)
        if !issues.isEmpty { try c.encode(issues, forKey: .issues) }
    }
}
