import ArgumentParser
import Foundation
import SchedulerAPI
#if canImport(Glibc)
import Glibc
#endif

/// The jobs a verb that takes several is given (`schedctl pause 'db-*' report`): names, or
/// shell patterns matched against the daemon's jobs, as `list` matches them.
enum JobTargets {
    static func isPattern(_ text: String) -> Bool { text.contains { "*?[".contains($0) } }

    static func matches(_ pattern: String, _ name: String) -> Bool { fnmatch(pattern, name, 0) == 0 }

    /// The names, each pattern replaced by the jobs it matches (in the daemon's order), each
    /// job once. A pattern that matches nothing is refused before anything is asked: a verb
    /// done to some of what was meant is worse than none. A name is passed on as it is (the
    /// daemon says when there is no such job). With `services`, a pattern matches services only
    /// (`schedctl stop '*'`).
    static func resolve(_ arguments: [String], _ global: GlobalOptions, services: Bool = false) throws -> [String] {
        var names: [String] = []
        if arguments.contains(where: isPattern) {
            let reply = try global.client.send("GET", "/v1/jobs")
            guard (200..<300).contains(reply.status) else { throw ControlClient.failure(reply) }
            guard case let .array(jobs) = try? JSONParser.parse(reply.body) else {
                throw CommandFailure(message: "schedd's job list could not be read", exitCode: 1)
            }
            let all = jobs.compactMap { job -> String? in
                guard case let .string(name)? = job["name"] else { return nil }
                return !services || job["service"] == .bool(true) ? name : nil
            }
            for argument in arguments {
                guard isPattern(argument) else {
                    names.append(argument)
                    continue
                }
                let matched = all.filter { matches(argument, $0) }
                guard !matched.isEmpty else {
                    throw CommandFailure(message: "no \(services ? "service" : "job") matches \(argument) (nothing was done)", exitCode: 1)
                }
                names += matched
            }
        } else {
            names = arguments
        }
        var seen: Set<String> = []
        return names.filter { seen.insert($0).inserted }
    }

    /// Asks `method path(name)` for each job, one after another; a refusal is said and the rest
    /// go on, and the command then exits 1. With `--json`, the replies are printed as they
    /// came (an array of them for several jobs); otherwise `each` prints a reply.
    static func each<T: Decodable>(_ names: [String], _ global: GlobalOptions, _ method: String, path: (String) -> String,
                                   as type: T.Type, _ each: (String, T) -> Void) throws {
        var failed = false
        var replies: [JSONValue] = []
        for name in names {
            let reply = try global.client.send(method, path(ControlClient.escape(name)))
            guard (200..<300).contains(reply.status) else {
                let failure = ControlClient.failure(reply)
                // One job alone fails as any request does.
                if names.count == 1 { throw failure }
                FileHandle.standardError.write(Data("schedctl: \(failure.message)\n".utf8))
                failed = true
                continue
            }
            if global.json {
                if names.count == 1 { Output.printJSON(bytes: reply.body) } else if let value = try? JSONParser.parse(reply.body) { replies.append(value) }
                continue
            }
            do {
                each(name, try APICoding.decoder().decode(T.self, from: Data(reply.body)))
            } catch {
                throw CommandFailure(message: "schedd's reply could not be read: \(error)", exitCode: 1)
            }
        }
        if global.json && names.count > 1 { Output.printJSON(.array(replies)) }
        if failed { throw ExitCode(1) }
    }
}
