import ArgumentParser
import Foundation
import SchedulerAPI

/// Entry point. Runs the command tree and maps errors to the documented exit codes (README, `schedctl --help`):
/// 0 success, 1 refused or failed by the daemon, 2 usage or validation error, 3 daemon unreachable.
@main
enum Schedctl {
    static func main() async {
        if let verb = hoistingGlobalOptions(Array(CommandLine.arguments.dropFirst())).first, !verb.hasPrefix("-"),
           !SchedctlCommand.verbs.contains(verb), verb != "help" {
            let hint = NearMiss.suggest(verb, among: SchedctlCommand.verbs).map { " (did you mean \"\($0)\"?)" } ?? ""
            FileHandle.standardError.write(Data("schedctl: unknown verb \"\(verb)\"\(hint); `schedctl --help` lists them\n".utf8))
            Foundation.exit(2)
        }
        do {
            var command = try SchedctlCommand.parseAsRoot(hoistingGlobalOptions(Array(CommandLine.arguments.dropFirst())))
            if var async = command as? any AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
        } catch let exit as ExitCode {
            Foundation.exit(exit.rawValue)
        } catch let failure as CommandFailure {
            FileHandle.standardError.write(Data("schedctl: \(failure.message)\n".utf8))
            Foundation.exit(failure.exitCode)
        } catch {
            let code = SchedctlCommand.exitCode(for: error)
            let message = SchedctlCommand.fullMessage(for: error)
            if !message.isEmpty {
                let stream = code == .success ? FileHandle.standardOutput : FileHandle.standardError
                stream.write(Data((message + "\n").utf8))
            }
            // ArgumentParser reports usage errors as EX_USAGE (64); the documented code is 2.
            Foundation.exit(code == .success ? 0 : (code == .validationFailure ? 2 : code.rawValue))
        }
    }
}

/// The documented form is `schedctl [--socket PATH] [--json] VERB …`; ArgumentParser only reads a
/// subcommand's options after its name, so global options given before the verb move after it.
func hoistingGlobalOptions(_ arguments: [String]) -> [String] {
    var leading: [String] = []
    var rest = arguments[...]
    while let first = rest.first {
        if first == "--json" || first.hasPrefix("--socket=") {
            leading.append(first)
            rest = rest.dropFirst()
        } else if first == "--socket", rest.count >= 2 {
            leading.append(contentsOf: rest.prefix(2))
            rest = rest.dropFirst(2)
        } else {
            break
        }
    }
    guard let verb = rest.first, !leading.isEmpty else { return arguments }
    return [verb] + leading + rest.dropFirst()
}
