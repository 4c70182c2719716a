import ArgumentParser
import Foundation
import SchedulerAPI

struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a job file offline.",
        discussion: "Prints every error, each naming the job, the field and the problem. Exit 0 when valid, 2 otherwise.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("The job file (- for standard input).", valueName: "file"), completion: .file(extensions: ["json"]))
    var file: String

    @Flag(help: "Validate as for a daemon running as root (allows user and group).")
    var asRoot = false

    func run() async throws {
        let data = try JobFileInput.read(file)
        var context = ValidationContext.currentProcess
        if asRoot { context.runningAsRoot = true }
        do {
            let jobFile = try JobFile(data: data, context: context)
            if global.json {
                Output.printJSON(.object([("valid", .bool(true)), ("jobs", .array(jobFile.jobs.map { .string($0.name) }))]))
            } else {
                let count = jobFile.jobs.count
                print("\(file): valid, \(count) job\(count == 1 ? "" : "s"): \(jobFile.jobs.map(\.name).joined(separator: ", "))")
            }
        } catch {
            if global.json {
                let issues = error.issues.map { issue in
                    JSONValue.object([("job_index", issue.jobIndex.map(JSONValue.int) ?? .null),
                                      ("job", issue.job.map(JSONValue.string) ?? .null),
                                      ("path", .string(issue.path)), ("message", .string(issue.message)),
                                      ("text", .string(issue.description))])
                }
                Output.printJSON(.object([("valid", .bool(false)), ("error", .object([
                    ("code", .string(error.code.rawValue)), ("message", .string(error.message)), ("issues", .array(issues)),
                ]))]))
            } else {
                var text = "\(file): \(error.message)"
                for issue in error.issues { text += "\n  \(issue)" }
                FileHandle.standardError.write(Data((text + "\n").utf8))
            }
            throw ExitCode(2)
        }
    }
}
