import Foundation
import SchedulerAPI

/// Reads, validates and applies a job file from disk: what `--config`, SIGHUP and
/// `schedctl reload` do. The daemon applies its `--config` file with `prune`: the file is the
/// whole set of the jobs it owns, and a job taken out of it is removed (its history stays);
/// jobs created over the API are not the file's and stay.
public struct JobFileLoader: Sendable {
    public let path: String
    /// Handler names the embedding program registered (nil: accept any).
    public let handlers: Set<String>?

    public init(path: String, handlers: Set<String>? = nil) {
        self.path = path
        self.handlers = handlers
    }

    /// Applies the file atomically to `store`; any error changes nothing and names every
    /// problem. The engine calls it (`JobScheduler.apply(_:prune:dryRun:)`): it is the store's
    /// only writer.
    func apply(to store: any SchedulerStore, prune: Bool = false, dryRun: Bool = false, now: Date = Date(),
               graph: @Sendable () async throws -> DependencyGraph = { DependencyGraph() }) async throws -> ApplyResult {
        try await applyReading(to: store, prune: prune, dryRun: dryRun, now: now, graph: graph).result
    }

    /// The same, with the file as read (nil when an unchanged file was not read again): what a
    /// dry run's report needs beside the store, which does not hold its definitions.
    func applyReading(to store: any SchedulerStore, prune: Bool, dryRun: Bool, now: Date,
                      graph: @Sendable () async throws -> DependencyGraph) async throws -> (result: ApplyResult, file: JobFile?) {
        let data = try await BlockingWork.run { [path] () throws(APIError) in try Self.read(path) }
        // A file that is the whole set of jobs, byte for byte what was applied last, with no
        // job changed since, would change nothing: a restart with 10,000 jobs then skips
        // parsing and validating them (most of its start-up).
        let source = prune ? Self.source(data, handlers: handlers) : nil
        if let source, !dryRun, let names = try await store.unchangedJobs(since: source) {
            return (ApplyResult(unchanged: names), nil)
        }
        var context = ValidationContext.currentProcess
        context.handlers = handlers
        // A pruning apply replaces the file's own jobs; the API's stay and may be referred to.
        context.existingJobs = try await prune ? store.jobNames(keptByPruneOf: .file, protectedFile: nil) : store.jobNames()
        try await graph().fill(&context)
        let file = try JobFile(data: data, context: context)
        return (try await store.applyJobs(file, prune: prune, dryRun: dryRun, now: now, source: source, origin: .file(path), protectedFile: nil), file)
    }

    /// Checks a file with no database at hand (references must resolve within it), as
    /// `schedctl validate` does.
    public static func validateOffline(path: String, handlers: Set<String>? = nil) throws {
        let data = try Self.read(path)
        var context = ValidationContext.currentProcess
        context.handlers = handlers
        _ = try JobFile(data: data, context: context)
    }

    static func read(_ path: String) throws(APIError) -> Data {
        if let problem = FileTrust.problem(.jobFile, path: path, uid: geteuid()) { throw APIError(.forbidden, problem) }
        // A FIFO or a device would block the read until someone writes it, and schedd's start
        // or reload with it: only a file is a job file.
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & S_IFMT != S_IFREG {
            throw APIError(.invalidArgument, "cannot read the job file \(path): it is \(FileKind.name(info.st_mode)), not a regular file")
        }
        // Opened here for the system's words on a failure ("No such file or directory").
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw APIError(.invalidArgument, "cannot read the job file \(path): \(String(cString: strerror(errno)))") }
        do {
            return try FileHandle(fileDescriptor: fd, closeOnDealloc: true).readToEnd() ?? Data()
        } catch {
            throw APIError(.invalidArgument, "cannot read the job file \(path): \(error.localizedDescription)")
        }
    }

    /// What a pruning apply depends on: the file's bytes and the handlers it was checked
    /// against.
    static func source(_ data: Data, handlers: Set<String>?) -> Data {
        var source = data
        source.append(0)
        source.append(contentsOf: (handlers.map { $0.sorted().joined(separator: ",") } ?? "*").utf8)
        return source
    }
}
