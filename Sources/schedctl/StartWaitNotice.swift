import Dispatch
import Foundation
import SchedulerAPI

/// Says on stderr why `schedctl run` has no answer yet: schedd answers a run once it has
/// started, which may be long after the request when every worker is busy or the job waits for
/// a service it requires. Without a word the command would seem hung, and an interrupted
/// command would seem to have dropped the run, which still starts.
final class StartWaitNotice: Sendable {
    private let answered = DispatchSemaphore(value: 0)

    /// After `delay` without `finish()`, asks schedd (on its own connection, from a thread of
    /// its own: the request that waits blocks this one) and says what the run waits for.
    init(client: ControlClient, job: String, delay: Double = 1) {
        let answered = answered
        Thread.detachNewThread {
            guard answered.wait(timeout: .now() + delay) == .timedOut,
                  let status = try? client.call("GET", "/v1/status", as: StatusResponse.self, timeout: 5) else { return }
            let what: String
            if status.workersBusy >= status.workersTotal {
                what = "every worker is busy (\(status.workersBusy) of \(status.workersTotal)) and \(Output.count(status.queued, "run")) \(status.queued == 1 ? "waits" : "wait"): it starts when one is free"
            } else if let detail = try? client.call("GET", "/v1/jobs/\(ControlClient.escape(job))", as: JobDetail.self, timeout: 5),
                      !(detail.job.spec.requires ?? []).isEmpty {
                what = "it waits for the services it requires to be ready (up to its requires_wait)"
            } else {
                // Nothing it is known to wait for: its start row not written yet, say (another
                // program holding the database's write lock).
                what = "schedd answers once it has"
            }
            guard answered.wait(timeout: .now()) == .timedOut else { return }
            FileHandle.standardError.write(Data("schedctl: the run of \(job) has not started yet: \(what); interrupting this command leaves it waiting (`schedctl cancel \(job)` drops it)\n".utf8))
        }
    }

    /// The request has its answer: nothing more to say.
    func finish() { answered.signal() }
}
