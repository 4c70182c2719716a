import ArgumentParser
import Foundation
import SchedulerAPI

struct SchedctlCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedctl",
        abstract: "Control the schedd job scheduler.",
        discussion: """
            Talks to schedd over its Unix socket. validate, and next of a schedule, work offline.
            Exit codes: 0 success, 1 the daemon refused or failed the request, 2 usage or \
            validation error, 3 the daemon cannot be reached.
            """,
        version: Version.current,
        subcommands: [
            StatusCommand.self, ListCommand.self, ShowCommand.self, ApplyCommand.self, ValidateCommand.self,
            NextCommand.self, ExportCommand.self, RemoveCommand.self, RunCommand.self, CancelCommand.self,
            PauseCommand.self, ResumeCommand.self, StartCommand.self, StopCommand.self, RestartCommand.self, HistoryCommand.self, LogsCommand.self, EventsCommand.self,
            ReloadCommand.self, DashboardCommand.self, NodesCommand.self,
        ])

    /// The verbs' names, for suggestions.
    static var verbs: [String] { configuration.subcommands.compactMap { $0.configuration.commandName } }
}
