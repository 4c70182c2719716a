import Foundation
import Logging
import SchedulerAPI
import Subprocess
#if canImport(Glibc)
import Glibc
#endif
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Runs `command` and `shell` jobs as processes, through swift-subprocess.
///
/// Each run gets its own session (so its process group can be signalled as a whole), stdin
/// from `/dev/null`, stdout and stderr on their own pipes whose tail is kept together (each
/// byte tagged with its stream; `RunOutputPipes`), and a minimal environment. A stop asked
/// for through the request (`ExecutionRequest.stop`) sends SIGTERM to the group, then SIGKILL
/// after `kill_grace`, and the output is read on to its end; cancelling the calling task does
/// the same through swift-subprocess's teardown, without the output. Processes that escaped
/// the group are left to `ProcessSweeper`; once they are swept, whatever still holds the
/// pipes (one the sweep cannot find) is no longer waited for.
public struct CommandExecutor: JobExecutor, StopsOnRequest {
    let sweeper: ProcessSweeper
    /// How often to check whether the run's main process has exited while its output pipe is
    /// still held open by a leftover child, where the kernel gives no pidfd to watch (before
    /// Linux 5.3); with one, the exit is seen as it happens.
    let exitPollInterval: Duration
    /// False: exits are looked for every `exitPollInterval` even where pidfds exist (tests).
    let watchesExitsByPidfd: Bool
    /// The soft limit on open files a run starts with; nil: this process's own.
    let fileLimit: UInt64?

    /// - Parameter fileLimit: the soft limit on open files (`RLIMIT_NOFILE`) each run starts
    ///   with, at most the hard limit; nil: this process's own. A program that raised its own
    ///   soft limit gives the one it started with back to its runs, as systemd and Go do: some
    ///   programs still `select()` (descriptors above 1,024 break it) or close every possible
    ///   descriptor up to the limit when they start.
    public init(sweeper: ProcessSweeper, exitPollInterval: Duration = .milliseconds(200), fileLimit: UInt64? = nil) {
        self.init(sweeper: sweeper, exitPollInterval: exitPollInterval, watchesExitsByPidfd: true, fileLimit: fileLimit)
    }

    init(sweeper: ProcessSweeper, exitPollInterval: Duration = .milliseconds(200), watchesExitsByPidfd: Bool, fileLimit: UInt64? = nil) {
        self.sweeper = sweeper
        self.exitPollInterval = exitPollInterval
        self.watchesExitsByPidfd = watchesExitsByPidfd
        self.fileLimit = fileLimit
    }

    /// `limit` at most the hard limit, when that is not the soft limit runs would inherit
    /// anyway (nil: nothing to change, and no program to go through for it). Asked per run
    /// (one system call): the program may raise its own limit after the engine is made.
    static func lowering(to limit: UInt64) -> UInt64? {
        guard let current = OpenFileLimit.current else { return limit }
        let wanted = min(limit, current.hard)
        return wanted == current.soft ? nil : wanted
    }

    static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// The environment of docs/job-file.md: a minimal base, the job's `env`, then schedd's own variables.
    static func environment(for request: ExecutionRequest, account: Account, instanceID: String) -> [String: String] {
        var env = [
            "PATH": defaultPath, "HOME": account.home, "USER": account.name, "LOGNAME": account.name,
            "SHELL": account.shell,
        ]
        for (key, value) in request.spec.env ?? [:] { env[key] = value }
        for (key, value) in request.extraEnvironment { env[key] = value }
        env["SCHEDD_JOB"] = request.spec.name
        env["SCHEDD_RUN_ID"] = String(request.runID)
        env["SCHEDD_ATTEMPT"] = String(request.attempt)
        env["SCHEDD_INSTANCE"] = instanceID
        // Empty rather than absent for a run with no slot, so that `set -u` scripts can read it.
        env["SCHEDD_SCHEDULED_AT"] = request.scheduledAt.map(Timestamp.format) ?? ""
        env["SCHEDD_NODE"] = request.node
        return env
    }

    /// The user a run runs as.
    struct Account {
        var uid: uid_t
        var gid: gid_t
        var name: String
        var home: String
        var shell: String
        /// The supplementary groups a run under this account takes.
        var groups: [gid_t] = []

        /// schedd's own account, looked up once: most runs name no user, and a look-up in the
        /// account database (files, or NSS) per run is I/O on the cooperative pool.
        static let daemon: Account = {
            let uid = geteuid()
            guard let entry = AccountDatabase.user(uid: uid) else {
                return Account(uid: uid, gid: getegid(), name: String(uid), home: "/", shell: "/bin/sh")
            }
            return Account(uid: uid, gid: getegid(), name: entry.name, home: entry.home, shell: entry.shell)
        }()

        static func lookup(user: String?, group: String?) throws(APIError) -> Account {
            if user == nil && group == nil { return daemon }
            let uid: uid_t
            if let user {
                guard let found = AccountDatabase.user(user) else { throw APIError(.invalidArgument, "no such user \"\(user)\"") }
                uid = found.uid
            } else {
                uid = geteuid()
            }
            let entry = AccountDatabase.user(uid: uid)
            var gid = user == nil ? getegid() : entry?.gid ?? getegid()
            var groups = [gid]
            if let group {
                guard let found = AccountDatabase.groupID(group) else { throw APIError(.invalidArgument, "no such group \"\(group)\"") }
                gid = found
                groups = [gid]
            } else if let entry {
                groups = AccountDatabase.groups(of: entry.name, gid: gid)
            }
            guard let entry else {
                return Account(uid: uid, gid: gid, name: String(uid), home: "/", shell: "/bin/sh", groups: groups)
            }
            return Account(uid: uid, gid: gid, name: entry.name, home: entry.home, shell: entry.shell, groups: groups)
        }
    }

    /// Why a run cannot start in `directory` (it is missing, or not a directory), or nil. One
    /// the daemon may enter and the job's user may not is left to the start to report.
    static func workingDirectoryProblem(_ directory: String) -> String? {
        workingDirectoryFault(directory).map { "cannot start in working_dir \(directory): \($0)" }
    }

    /// What is wrong with `directory` as a working directory ("No such file or directory"), or nil.
    static func workingDirectoryFault(_ directory: String) -> String? {
        var info = stat()
        guard stat(directory, &info) == 0 else { return String(cString: strerror(errno)) }
        return info.st_mode & S_IFMT == S_IFDIR ? nil : "it is not a directory"
    }

    /// `argv[0]` looked up in the run's `PATH` unless it contains a slash; a relative path
    /// (`./backup.sh`, or a relative `PATH` entry) is the run's, from its working directory,
    /// where the run starts (not from schedd's, where it was looked for and not found).
    static func resolve(_ program: String, path: String, from directory: String) -> String? {
        func placed(_ file: String) -> String {
            file.hasPrefix("/") ? file : (directory.hasSuffix("/") ? directory : directory + "/") + file
        }
        if program.contains("/") { return access(placed(program), X_OK) == 0 ? placed(program) : nil }
        for dir in path.split(separator: ":") where !dir.isEmpty {
            let candidate = placed("\(dir)/\(program)")
            var info = stat()
            if stat(candidate, &info) == 0, info.st_mode & S_IFMT == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        return nil
    }

    /// What keeps a job's runs from starting on this machine as things stand, with the field
    /// (a missing working directory; a program, or a `ready_check` program, not found where
    /// a run looks for it), each ending with what it does. Looks at the file system: call it
    /// off the cooperative pool. Programs run through `/bin/sh -c` are not looked into.
    static func startProblems(of spec: JobSpec) -> [String] {
        if let fault = workingDirectoryFault(spec.effectiveWorkingDir) {
            return ["working_dir: \(spec.effectiveWorkingDir): \(fault): its runs fail until it is one"]
        }
        let path = spec.env?["PATH"] ?? defaultPath
        var problems: [String] = []
        // The crontab habit, `PATH=$PATH:/opt/bin`: nothing expands it.
        if let given = spec.env?["PATH"], given.contains("$") {
            problems.append("env.PATH: \"\(given)\" is taken as written, nothing expands the $: write the whole value")
        }
        for (field, action) in [("command", spec.action), ("ready_check", spec.readyCheck)] {
            guard case let .command(argv)? = action, let program = argv.first,
                  resolve(program, path: path, from: spec.effectiveWorkingDir) == nil else { continue }
            let place = program.contains("/") ? (program.hasPrefix("/") ? "" : " (from working_dir \(spec.effectiveWorkingDir))") : " in PATH (\(path))"
            problems.append("\(field): \"\(program)\" is not found or not executable\(place): \(field == "command" ? "its runs fail" : "the service is never ready") until it is")
        }
        return problems
    }

    /// What a task of a run's body reports when it ends.
    enum BodyPart: Sendable {
        case readerEnded
        case exited
        case other
    }

    public func execute(_ request: ExecutionRequest) async throws -> ExecutionOutcome {
        let spec = request.spec
        let account: Account
        if spec.user == nil && spec.group == nil {
            account = .daemon
        } else {
            // The account database may be files or NSS over the network: off the pool.
            let (user, group) = (spec.user, spec.group)
            let found = await AccountDatabase.off { () -> Result<Account, APIError> in
                do throws(APIError) {
                    return .success(try Account.lookup(user: user, group: group))
                } catch {
                    return .failure(error)
                }
            }
            switch found {
            case let .success(looked): account = looked
            case let .failure(error): return ExecutionOutcome(ending: .failed(error.message))
            }
        }
        let env = Self.environment(for: request, account: account, instanceID: sweeper.instanceID)
        let argv: [String]
        switch spec.action {
        case let .command(command): argv = command
        case let .shell(script): argv = ["/bin/sh", "-c", script]
        case .handler: return ExecutionOutcome(ending: .failed("handler jobs need an embedding program that registers the handler"))
        }
        // Said here with the reason: swift-subprocess reports only that it could not change to
        // it. First: a relative program is looked for from it.
        if let problem = Self.workingDirectoryProblem(spec.effectiveWorkingDir) {
            return ExecutionOutcome(ending: .failed(problem))
        }
        guard let program = Self.resolve(argv[0], path: env["PATH"] ?? Self.defaultPath, from: spec.effectiveWorkingDir) else {
            return ExecutionOutcome(ending: .failed("cannot run \"\(argv[0])\": not found or not executable (PATH=\(env["PATH"] ?? ""))"))
        }
        var options = PlatformOptions()
        // Its own session and process group, so that the whole group can be signalled. (Both
        // must go together: signalling a group the child is not leading fails silently.)
        options.createSession = true
        options.teardownSequence = [
            .send(signal: .terminate, toProcessGroup: true, allowedDurationToNextStep: spec.effectiveKillGrace),
        ]
        // Not swift-subprocess's userID/groupID: it switches them in its forked child with
        // glibc's setgroups/setgid/setuid, which in a multithreaded process can wait forever for
        // threads that only exist in the parent (a test hung with the child in __nptl_setxid,
        // about once in a dozen runs; in the daemon it would block a pool thread and the run).
        // The entry program switches them in its own single-threaded process, then execs the
        // job in its place (same pid, session and pipes).
        let identity = spec.user != nil || spec.group != nil ? RunIdentity(uid: account.uid, gid: account.gid, groups: account.groups) : nil
        if identity != nil && !sweeper.cgroupEntry.canSwitchAccounts {
            return ExecutionOutcome(ending: .failed("running as another user needs \(CgroupEntry.helperName) beside the program or \(CgroupEntry.setpriv) (util-linux), and neither is installed"))
        }
        // The cgroup is made before the process and the process moves itself into it before
        // it runs the job: nothing the job starts is outside it, even in its first instant.
        // (swift-subprocess cannot spawn into a cgroup; a move by schedd after the spawn would
        // race with the job's first fork.)
        let cgroupProcs = await sweeper.prepare(runID: request.runID)
        let (executable, arguments) = sweeper.cgroupEntry.wrap(procs: cgroupProcs, fileLimit: fileLimit.flatMap(Self.lowering), identity: identity, executable: program, arguments: Array(argv.dropFirst()))
        // The pipes append to the run's sink, so that what a stopped run printed is kept even
        // when the cancellation ends the reading.
        let pipes: RunOutputPipes
        do {
            pipes = try RunOutputPipes(sink: request.output)
        } catch {
            return ExecutionOutcome(ending: .failed("cannot create the output pipes of \"\(argv[0])\": \(error)"))
        }
        // Whatever happened: no descriptor of the run's pipes outlives it.
        defer {
            pipes.closeWriteEnds()
            if !pipes.atEnd { pipes.stop() }
        }
        let sweeper = self.sweeper
        let poll = exitPollInterval
        let byPidfd = watchesExitsByPidfd
        let result: ExecutionResult<Void, FileDescriptorOutput, FileDescriptorOutput>
        do {
            result = try await Subprocess.run(
                .path(FilePath(executable)),
                arguments: Arguments(arguments),
                environment: .custom(Dictionary(uniqueKeysWithValues: env.map { (Environment.Key(stringLiteral: $0.key), $0.value) })),
                workingDirectory: FilePath(spec.effectiveWorkingDir),
                platformOptions: options,
                input: .none,
                output: .fileDescriptor(FileDescriptor(rawValue: pipes.writeEnd(0)), closeAfterSpawningProcess: false),
                error: .fileDescriptor(FileDescriptor(rawValue: pipes.writeEnd(1)), closeAfterSpawningProcess: false)
            ) { execution in
                // The child has its copies; the pipes end when it and what it started close them.
                pipes.closeWriteEnds()
                let pid = execution.processIdentifier.value
                await request.onStart(pid)
                let exitWatch = byPidfd ? ProcessExitWatch(pidfd: execution.processIdentifier.processDescriptor) : nil
                let exited = StopFlag()
                try await withThrowingTaskGroup(of: BodyPart.self) { group in
                    // However the body ends, the exit watch ends with it (it does not heed
                    // cancellation).
                    defer { exitWatch?.stop() }
                    group.addTask {
                        await pipes.ended()
                        return .readerEnded
                    }
                    // A child that outlives the main process keeps the pipes open; once the main
                    // process has exited, its leftovers are swept so that the pipes close, and
                    // what the sweep could not find is not waited for. This goes on after a
                    // timeout or cancel too (a stopped run's escaped children would otherwise
                    // hold the pipes, and the run, open), until the reading is done.
                    if let exitWatch {
                        group.addTask {
                            guard await exitWatch.exited() else { return .other }
                            exited.set()
                            if pipes.atEnd { return .exited }
                            // The pipes mostly reach their end at the same moment; a look for
                            // leftovers is only worth it when they have not. (The end of the
                            // reading cancels this sleep.)
                            try? await Task.sleep(for: .milliseconds(50))
                            if !pipes.atEnd {
                                await sweeper.sweep(job: spec.name, runID: request.runID, grace: spec.effectiveKillGrace)
                                pipes.stop()
                            }
                            return .exited
                        }
                    } else {
                        // No pidfd (a kernel before 5.3): look now and then, soon at first (most
                        // runs are short), then every `poll`, until the main process has exited.
                        // The same end as the watch's: leftovers swept once it has exited, and
                        // the body waits for the exit, so that a process that closed its output
                        // and runs on can still be stopped by its timeout.
                        group.addTask {
                            var pause = Duration.milliseconds(1)
                            while true {
                                // `/proc` is read off the cooperative pool, where the sweeper reads it.
                                if await ProcessSweeper.onQueue({ ProcessTable.isZombie(pid) }) {
                                    exited.set()
                                    if !pipes.atEnd {
                                        await sweeper.sweep(job: spec.name, runID: request.runID, grace: spec.effectiveKillGrace)
                                        pipes.stop()
                                    }
                                    return .exited
                                }
                                // Cancelled from outside, swift-subprocess stops the process; this
                                // looks on until it has.
                                if Task.isCancelled {
                                    await Pause.ignoringCancellation(pause)
                                } else {
                                    try? await Task.sleep(for: pause)
                                }
                                pause = min(pause * 2, poll)
                            }
                        }
                    }
                    // Asked to stop (a timeout, a cancel): SIGTERM to the group, SIGKILL after
                    // `kill_grace`, while the readers read on. (Cancelling this task instead
                    // would end the reads first: the job's last words, "Terminated" from a shell
                    // among them, then killed it with SIGPIPE before its SIGTERM handler ran.)
                    let stop = request.stop
                    let grace = spec.effectiveKillGrace
                    group.addTask {
                        guard await stop.waitForStop() != nil else { return .other }
                        try? execution.send(signal: .terminate, toProcessGroup: true)
                        do {
                            try await Task.sleep(for: grace)
                        } catch {
                            return .other
                        }
                        try? execution.send(signal: .kill, toProcessGroup: true)
                        return .other
                    }
                    // Until the reading is done and the process has exited: one that closed its
                    // output and runs on can still be asked to stop.
                    var readingEnded = false
                    while !readingEnded || !exited.isSet, let part = try await group.next() {
                        if part == .readerEnded { readingEnded = true }
                    }
                    group.cancelAll()
                }
            }
        } catch {
            let tail = request.output.snapshot
            if Task.isCancelled || error is CancellationError {
                // Stopped from outside (timeout, cancel): the caller decides the status; the
                // output so far is what it can keep.
                return ExecutionOutcome(ending: .failed("stopped"), tail: tail)
            }
            return ExecutionOutcome(ending: .failed("cannot start \"\(argv[0])\": \(error)"))
        }
        let tail = request.output.snapshot
        switch result.terminationStatus {
        case let .exited(code):
            return ExecutionOutcome(ending: .exited(Int32(code)), tail: tail)
        case let .signaled(signal):
            return ExecutionOutcome(ending: .signaled(Int32(signal)), tail: tail)
        }
    }
}
