/// One problem in a job file, located by job and JSON path.
public struct ValidationIssue: Sendable, Equatable, Codable, CustomStringConvertible {
    /// Index of the job in the file's `jobs` array, when the problem is inside a job.
    public var jobIndex: Int?
    /// The job's name, when it has a usable one.
    public var job: String?
    /// JSON path relative to the job (`timeout`, `restart_limit.burst`), or to the file when
    /// `jobIndex` is nil (`defaults.timeout`, `jobs`).
    public var path: String
    public var message: String

    public init(jobIndex: Int? = nil, job: String? = nil, path: String, message: String) {
        self.jobIndex = jobIndex
        self.job = job
        self.path = path
        self.message = message
    }

    /// `jobs[2] "backup": timeout: "5 minutes" is not a duration (try "5m")`
    public var description: String {
        var prefix = ""
        if let jobIndex {
            prefix = "jobs[\(jobIndex)]"
            if let job { prefix += " \"\(job)\"" }
            prefix += ": "
        }
        return path.isEmpty ? prefix + message : "\(prefix)\(path): \(message)"
    }

    private enum CodingKeys: String, CodingKey {
        case jobIndex = "job_index", job, path, message
    }
}
