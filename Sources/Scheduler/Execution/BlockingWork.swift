import Dispatch

/// Work that may block its thread: reading files and `/proc`, asking the account database
/// (NSS may go over the network), opening and migrating a database, connecting with a
/// timeout. It runs on a dispatch queue and the calling task waits without a thread: the
/// cooperative pool has one thread per core, and a blocked one stalls every task queued on it.
package enum BlockingWork {
    /// Files that are read or written now and then (a job file on reload, the daemon's
    /// start-up): serial, as they are rare and ordered.
    package static let files = DispatchQueue(label: "schedd.files")

    /// Runs `work` on `queue` and returns what it returned or threw.
    package static func run<T: Sendable, E: Error>(on queue: DispatchQueue = files,
                                                  _ work: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        let result: Result<T, E> = await withCheckedContinuation { continuation in
            queue.async {
                do throws(E) {
                    continuation.resume(returning: .success(try work()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }
}
