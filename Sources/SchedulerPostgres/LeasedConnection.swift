import PostgresNIO
import Synchronization

/// The connection a call has leased from the pool, for as long as it has it: what the call's
/// deadline closes. Released before the pool takes the connection back, so that a deadline
/// passing just then never closes a connection another call has leased since.
final class LeasedConnection: Sendable {
    private let connection = Mutex<PostgresConnection?>(nil)

    func hold(_ leased: PostgresConnection) {
        connection.withLock { $0 = leased }
    }

    func release() {
        connection.withLock { $0 = nil }
    }

    /// Closes the connection, if the call still has it: its query under way fails at once.
    func close() {
        connection.withLock { held in
            if let held {
                // The future's close: it only asks the connection's event loop to close the
                // channel, so it is fine under the lock.
                let _: EventLoopFuture<Void> = held.close()
            }
            held = nil
        }
    }
}
