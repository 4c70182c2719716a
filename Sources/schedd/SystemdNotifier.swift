import Foundation
import SchedulerAPI
#if canImport(Glibc)
import Glibc
#endif

/// The sd_notify protocol: one datagram per message to `$NOTIFY_SOCKET`. Without that variable
/// (not started by systemd with `Type=notify`) every call does nothing.
struct SystemdNotifier: Sendable {
    let socketPath: String?
    /// Half of `WATCHDOG_USEC`, when systemd asked this process for watchdog pings.
    let watchdogInterval: Duration?

    init(environment: [String: String]) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        let forMe = environment["WATCHDOG_PID"].map { pid_t($0) == getpid() } ?? true
        if forMe, let usec = environment["WATCHDOG_USEC"].flatMap(Int64.init), usec > 0 {
            watchdogInterval = .microseconds(usec / 2)
        } else {
            watchdogInterval = nil
        }
    }

    var isActive: Bool { socketPath != nil }

    /// Sends `message` (`READY=1`, `STATUS=…`, several lines allowed). Never blocks: a full
    /// socket drops the message, which systemd tolerates.
    @discardableResult
    func send(_ message: String) -> Bool {
        guard let socketPath else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let sent = UnixSocketAddress.with(socketPath) { address, length in
            message.utf8CString.withUnsafeBufferPointer { buffer in
                sendto(fd, buffer.baseAddress, buffer.count - 1, Int32(MSG_DONTWAIT) | Int32(MSG_NOSIGNAL), address, length)
            }
        } ?? -1
        return sent >= 0
    }

    /// `MONOTONIC_USEC` for `RELOADING=1`: CLOCK_MONOTONIC now, in microseconds.
    static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
    }
}
