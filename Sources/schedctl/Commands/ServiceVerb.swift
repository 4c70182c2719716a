import SchedulerAPI

/// What `start`, `stop` and `restart` share: one POST on the service, then its state.
enum ServiceVerb {
    static func send(_ verb: String, to name: String, _ global: GlobalOptions) throws {
        guard let detail = try global.request("POST", "/v1/jobs/\(ControlClient.escape(name))/\(verb)", as: JobDetail.self) else { return }
        let state = detail.service.map { ($0.state, $0.reason) } ?? (detail.summary.state, detail.summary.reason)
        print("\(name): \(state.0)\(state.1.map { " (\($0))" } ?? "")")
    }
}
