/// A write queued in the group commit (`GroupCommitter.enqueue`): committed no later than any
/// write submitted after it.
struct QueuedWrite: Sendable {
    let committer: GroupCommitter
    let entry: GroupCommitter.Entry

    /// Commits it (with whatever is queued) unless a writer is at it already, and waits until
    /// it is durable.
    func wait() async throws {
        do {
            try await committer.flush(until: entry)
        } catch {
            throw storeError(error)
        }
    }
}
