/// Cluster mode: a stop, start or restart of a service asked on one node of the node that runs
/// it (`schedctl stop web` on node b, web running on node a), passed through the database; the
/// node that runs it does it and answers with the service's state there, or why it would not.
package struct ServiceCommand: Sendable, Equatable {
    package enum Action: String, Sendable, CaseIterable {
        case stop, start, restart
    }

    /// What the node that runs the service answered: its state after the command (`stopping`,
    /// `by schedctl`), or the refusal's message.
    package struct Answer: Sendable, Equatable {
        package var state: String?
        package var reason: String?
        package var error: String?

        package init(state: String? = nil, reason: String? = nil, error: String? = nil) {
            self.state = state
            self.reason = reason
            self.error = error
        }
    }

    package var id: Int64
    package var job: String
    package var action: Action
    /// Who asked, as the asking node names its caller.
    package var by: String?
    /// The node asked on.
    package var askedOn: String

    package init(id: Int64, job: String, action: Action, by: String?, askedOn: String) {
        self.id = id
        self.job = job
        self.action = action
        self.by = by
        self.askedOn = askedOn
    }
}
