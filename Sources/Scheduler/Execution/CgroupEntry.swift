import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How a process run enters its cgroup, and takes its job's account, before it becomes the job.
///
/// The process has to move itself: swift-subprocess cannot spawn into a cgroup, and a move
/// made by schedd after the spawn would race with the job's first fork. So the run starts as a
/// small program that writes itself into the cgroup's `cgroup.procs`, switches to the job's
/// ids if it names an account, and then execs the job in its place (same pid, session, pipes
/// and environment). Both forms fail the run with exit code 125 and a line on its stderr when
/// the move or the switch fails.
public enum CgroupEntry: Sendable, Equatable {
    /// `schedd-cgroup-exec` at this path: a C program without a C library, one cheap exec.
    case helper(String)
    /// `/bin/sh` with a builtin `echo` and an `exec`, and util-linux's `setpriv` for the
    /// account: where the helper is not installed (an engine embedded in another program).
    /// Costs process runs ~25 % of their rate.
    case shell

    /// The helper's file name; `scripts/install.sh` installs it beside `schedd`.
    public static let helperName = "schedd-cgroup-exec"

    /// The helper beside the running executable (where `swift build` and `scripts/install.sh`
    /// put it), or the shell where it is not there.
    public static func besideExecutable() -> CgroupEntry {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { return .shell }
        let executable = String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let helper = (executable as NSString).deletingLastPathComponent + "/" + helperName
        var info = stat()
        guard stat(helper, &info) == 0, info.st_mode & S_IFMT == S_IFREG, access(helper, X_OK) == 0 else { return .shell }
        return .helper(helper)
    }

    /// The script `/bin/sh -c` runs: `$0` is the cgroup's `cgroup.procs`, `$@` the job.
    static let shellScript = #"echo 0 >"$0" || { echo "schedd: cannot move the run into its cgroup $0" >&2; exit 125; }; exec "$@""#

    /// util-linux's program that switches ids, for the shell's form.
    static let setpriv = "/usr/bin/setpriv"

    /// The program and arguments that move into the cgroup whose `cgroup.procs` is `procs`,
    /// set the soft limit on open files to `fileLimit` (at most the hard one), switch to
    /// `identity`, each when given, then run `executable` (an absolute path) with `arguments`;
    /// the job as it is when there is none of them.
    func wrap(procs: String?, fileLimit: UInt64? = nil, identity: RunIdentity?, executable: String, arguments: [String])
        -> (executable: String, arguments: [String]) {
        switch self {
        case let .helper(path):
            var options: [String] = []
            if let procs { options += ["--procs", procs] }
            if let fileLimit { options += ["--nofile", String(fileLimit)] }
            if let identity {
                options += ["--groups", identity.groupList, "--gid", String(identity.gid), "--uid", String(identity.uid)]
            }
            return options.isEmpty ? (executable, arguments) : (path, options + ["--", executable] + arguments)
        case .shell:
            var (executable, arguments) = (executable, arguments)
            if let identity {
                let groups = identity.groups.isEmpty ? "--clear-groups" : "--groups=\(identity.groupList)"
                arguments = ["--reuid=\(identity.uid)", "--regid=\(identity.gid)", groups, "--", executable] + arguments
                executable = Self.setpriv
            }
            // The move before setpriv: it needs schedd's rights.
            if procs != nil || fileLimit != nil {
                // The limit is a number, so it can be written into the script as it is.
                let limit = fileLimit.map { #"ulimit -S -n "$(( \#($0) < $(ulimit -H -n) ? \#($0) : $(ulimit -H -n) ))" || exit 125; "# } ?? ""
                let script = procs == nil ? limit + #"exec "$@""# : limit + Self.shellScript
                arguments = ["-c", script, procs ?? "sh", executable] + arguments
                executable = "/bin/sh"
            }
            return (executable, arguments)
        }
    }

    /// Whether this form can switch a run to another account: the helper always, the shell's
    /// form with `setpriv` installed.
    var canSwitchAccounts: Bool {
        switch self {
        case .helper: true
        case .shell: FileManager.default.isExecutableFile(atPath: Self.setpriv)
        }
    }

    /// For `status` and the start's log line.
    public var description: String {
        switch self {
        case let .helper(path): path
        case .shell: "/bin/sh (\(Self.helperName) is not installed beside the program)"
        }
    }
}
