import SchedulerAPI

/// Which stored jobs are services and what each is ordered after or requires: what validating
/// a change needs to know of the jobs outside it.
struct DependencyGraph: Sendable {
    var services: Set<String> = []
    var dependencies: [String: [String]] = [:]

    func fill(_ context: inout ValidationContext) {
        context.existingServices = services
        context.existingDependencies = dependencies
    }
}
