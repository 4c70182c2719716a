import ArgumentParser
import Foundation
import SchedulerAPI

struct ApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply", abstract: "Create or update the jobs of a file, atomically.",
        discussion: "Any error rejects the whole file and changes nothing (exit 2, every error printed).")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The job file (- for standard input).", completion: .file(extensions: ["json"]))
    var file: String

    @Flag(help: "Remove jobs that are not in the file (their history stays).")
    var prune = false

    @Flag(help: "Only print what would change.")
    var dryRun = false

    func run() async throws {
        let data = try JobFileInput.read(file)
        let path = "/v1/jobs?prune=\(prune)&dry_run=\(dryRun)"
        guard let result = try global.request("POST", path, body: Array(data), as: ApplyResult.self) else { return }
        Self.printResult(result)
    }

    static func printResult(_ result: ApplyResult) {
        let verb = result.dryRun ? "would be " : ""
        for (word, names) in [("created", result.created), ("updated", result.updated), ("removed", result.removed), ("unchanged", result.unchanged)] where !names.isEmpty {
            print("\(verb)\(word): \(names.joined(separator: ", "))")
        }
        if result.created.isEmpty && result.updated.isEmpty && result.removed.isEmpty && result.unchanged.isEmpty {
            print("no jobs")
        }
        if let claimed = result.claimed {
            let names = claimed.joined(separator: ", ")
            let one = claimed.count == 1
            FileHandle.standardError.write(Data(("schedctl: note: \(names), created over the API, \(result.dryRun ? "would be" : one ? "is" : "are") the job file's "
                + "\(result.dryRun ? "from then on" : "now") (it names \(one ? "it" : "them")): `schedctl apply` and `remove` of \(one ? "it" : "them") are refused; edit the file\n").utf8))
        }
        // Made all the same: those jobs are not this file's to change; `status` names them too.
        for reference in result.brokenReferences ?? [] {
            FileHandle.standardError.write(Data("schedctl: warning: \(result.dryRun ? "after this change, " : "")\(reference.job): \(reference.message)\n".utf8))
        }
        // Applied all the same: the program may come later (a package installed after).
        for warning in result.warnings ?? [] {
            FileHandle.standardError.write(Data("schedctl: warning: \(warning.job): \(warning.message)\n".utf8))
        }
    }
}
