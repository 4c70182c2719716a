import SchedulerAPI

/// What `start`, `stop` and `restart` share: one POST on each service, then its state.
enum ServiceVerb {
    static let help = "The services: names, or shell patterns (quoted: 'web-*'), which match services only."

    static func send(_ verb: String, to names: [String], _ global: GlobalOptions) throws {
        let targets = try JobTargets.resolve(names, global, services: true)
        try JobTargets.each(targets, global, "POST", path: { "/v1/jobs/\($0)/\(verb)" }, as: JobDetail.self) { name, detail in
            let state = detail.service.map { ($0.state, $0.reason) } ?? (detail.summary.state, detail.summary.reason)
            print("\(name): \(state.0)\(state.1.map { " (\($0))" } ?? "")")
        }
    }
}
