/// A whole job file: every job with the file's `defaults` applied.
public struct JobFile: Sendable, Equatable {
    public var jobs: [JobSpec]

    public init(jobs: [JobSpec]) { self.jobs = jobs }

    /// Decodes and validates a job file. Any problem rejects the whole file: the error lists
    /// every problem found, each naming its job, JSON path and what is wrong.
    public init(data: some Collection<UInt8>, context: ValidationContext) throws(APIError) {
        let root: JSONValue
        do {
            root = try JSONParser.parse(data)
        } catch {
            throw APIError(.invalidJobFile, "the job file is not valid JSON",
                           issues: [ValidationIssue(path: "", message: error.description)])
        }
        self = try JobFileDecoder.decode(root, context: context)
    }

    /// The file as JSON, in the canonical form `export` prints and `apply` accepts.
    public var json: JSONValue {
        .object([(key: "jobs", value: .array(jobs.map(\.json)))])
    }
}
