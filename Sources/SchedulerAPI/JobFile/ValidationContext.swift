#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What validation may know beyond the file itself.
public struct ValidationContext: Sendable {
    /// `user`/`group` are allowed only when the daemon runs as root.
    public var runningAsRoot: Bool
    /// Jobs outside the file (already in the database) that `on_failure`/`on_success` may name.
    public var existingJobs: Set<String>
    /// Handler names an embedding program registered; nil skips the check (offline validation
    /// cannot know them).
    public var handlers: Set<String>?
    /// Look up `user` and `group` in the system's account database.
    public var checkAccounts: Bool
    /// Check that `on_failure`/`on_success`, `after` and `requires` name known jobs, that
    /// `requires` names services, and that no order or requirement goes round in a cycle.
    public var checkReferences: Bool
    /// Of `existingJobs`: the services (which `requires` may name), and the jobs each one is
    /// ordered after or requires (for cycles through jobs outside the file).
    public var existingServices: Set<String> = []
    public var existingDependencies: [String: [String]] = [:]
    /// Of `existingJobs`: the jobs each one's runs trigger (`on_failure`, `on_success`), for
    /// trigger cycles through jobs outside the file.
    public var existingTriggers: [String: [String]] = [:]
    /// Reading a definition back from the store: what an earlier version stored is taken as
    /// it was taken then (a service's scheduling policies, which defaults used to fill in and
    /// which never applied, are dropped rather than refused).
    public var readsStoredDefinition = false

    public init(runningAsRoot: Bool, existingJobs: Set<String> = [], handlers: Set<String>? = nil,
                checkAccounts: Bool = true, checkReferences: Bool = true) {
        self.runningAsRoot = runningAsRoot
        self.existingJobs = existingJobs
        self.handlers = handlers
        self.checkAccounts = checkAccounts
        self.checkReferences = checkReferences
    }

    /// For reading back a spec that was validated when it was stored: only its form is
    /// checked, so that a job stays readable after an account or a referenced job is gone.
    public static let stored: ValidationContext = {
        var context = ValidationContext(runningAsRoot: true, checkAccounts: false, checkReferences: false)
        context.readsStoredDefinition = true
        return context
    }()

    /// The context of this process: root when its effective uid is 0.
    public static var currentProcess: ValidationContext {
        ValidationContext(runningAsRoot: geteuid() == 0)
    }

    func userExists(_ name: String) -> Bool {
        AccountLookup.user(name) != nil
    }

    /// Whether `user` is a member of `group` (its primary group or a supplementary one).
    func isMember(user: String, of group: String) -> Bool {
        guard let account = AccountLookup.user(user), let gid = AccountLookup.group(group) else { return false }
        let primary = account.gid
        if gid == primary { return true }
        let name = account.name
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(name, primary, &groups, &count) < 0 {
            groups = [gid_t](repeating: 0, count: Int(count))
            _ = getgrouplist(name, primary, &groups, &count)
        }
        return groups.prefix(Int(max(0, count))).contains(gid)
    }

    func groupExists(_ name: String) -> Bool {
        AccountLookup.group(name) != nil
    }
}
