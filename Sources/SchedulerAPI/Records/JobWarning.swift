/// A job that an apply created or changed whose runs cannot start on this machine as things
/// stand: its program is not there (or not executable), or its `working_dir` is missing. The
/// job is applied all the same — the program may be installed after it, as cron and systemd
/// allow — and this tells of it at once rather than at its first run, weeks later for a
/// monthly job. In cluster mode also a job that a node's job file changes back from what
/// another node's file made it: the nodes' files differ.
public struct JobWarning: Sendable, Codable, Equatable {
    /// The job.
    public var job: String
    /// The field, what is wrong and what it does: `command: "/opt/backup/run" is not there
    /// or not executable: its runs fail until it is`.
    public var message: String

    public init(job: String, message: String) {
        self.job = job
        self.message = message
    }
}
