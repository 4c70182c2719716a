import SchedulerAPI

/// Which stored jobs are services, what each is ordered after or requires and which jobs its
/// runs trigger: what validating a change needs to know of the jobs outside it.
struct DependencyGraph: Sendable {
    var services: Set<String> = []
    var dependencies: [String: [String]] = [:]
    var triggers: [String: [String]] = [:]

    /// Adds what `spec` (stored as `name`) says.
    mutating func add(_ name: String, _ spec: JobSpec) {
        if spec.isService { services.insert(name) }
        let dependencies = spec.dependencies
        if !dependencies.isEmpty { self.dependencies[name] = dependencies }
        let triggers = spec.triggers
        if !triggers.isEmpty { self.triggers[name] = triggers }
    }

    func fill(_ context: inout ValidationContext) {
        context.existingServices = services
        context.existingDependencies = dependencies
        context.existingTriggers = triggers
    }
}
