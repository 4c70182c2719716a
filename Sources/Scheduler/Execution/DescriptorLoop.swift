import CLinuxEvents
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// One thread that waits in epoll for the descriptors of running processes (their output pipes
/// and pidfds) and serves them as they become readable: a quiet descriptor costs a registration,
/// no task and no buffer, and every read shares the loop's one buffer.
///
/// Everything done to a watched descriptor — its reads, its removal from epoll, its close —
/// happens on this thread (`Turn` exists only there), so a descriptor is never closed while
/// something still reads it, and an event is matched to its registration by a token of its own,
/// never by the descriptor's number, which the kernel gives out again once it is closed.
///
/// Not Dispatch read sources: made and cancelled several times per run, they crashed
/// libdispatch's own epoll bookkeeping on Linux (docs/performance.md). Like swift-subprocess's
/// own I/O thread, the loop lives as long as the process: it holds no work of its own to drain,
/// only what the runs that use it ask of it.
final class DescriptorLoop: Sendable {
    /// The loop shared by every run of the process.
    static let shared = DescriptorLoop()

    /// What a handler or a job may do, on the loop's thread only.
    struct Turn: ~Copyable {
        fileprivate let loop: DescriptorLoop
        /// The loop's buffer, for reads; its content is not kept between calls.
        let buffer: UnsafeMutableRawBufferPointer

        /// Stops watching `token`'s descriptor and closes it.
        func remove(_ token: Token) { loop.remove(token) }
    }

    /// A registration.
    struct Token: Hashable, Sendable { fileprivate let value: UInt64 }

    /// Called whenever its descriptor is readable (or has hung up), on the loop's thread; it
    /// returns false when it is done, and the descriptor is then removed and closed.
    typealias Handler = @Sendable (borrowing Turn) -> Bool

    private struct State {
        var handlers: [UInt64: (fd: Int32, handler: Handler)] = [:]
        var next: UInt64 = 1
        var jobs: [@Sendable (borrowing Turn) -> Void] = []
    }

    private let epoll: Int32
    private let wake: Int32
    private let state = Mutex(State())
    /// Reserved for the wake-up descriptor.
    private static let wakeToken: UInt64 = 0

    private init() {
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        wake = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        precondition(epoll >= 0 && wake >= 0, "schedd cannot create its epoll loop (errno \(errno))")
        var event = epoll_event(events: EPOLLIN.rawValue, data: epoll_data(u64: Self.wakeToken))
        precondition(epoll_ctl(epoll, EPOLL_CTL_ADD, wake, &event) == 0, "schedd cannot watch its epoll loop's wake-up (errno \(errno))")
        let thread = Thread { [self] in serve() }
        thread.name = "schedd.descriptors"
        thread.start()
    }

    /// Watches `fd` (level-triggered) until `handler` returns false or the descriptor is
    /// removed; from then on the descriptor is the loop's, which closes it. Nil when epoll
    /// refuses it (the descriptor is then still the caller's).
    func watch(_ fd: Int32, _ handler: @escaping Handler) -> Token? {
        state.withLock { state -> Token? in
            let token = state.next
            state.next += 1
            var event = epoll_event(events: EPOLLIN.rawValue, data: epoll_data(u64: token))
            // Under the lock, so that the loop cannot see an event of it before it is known.
            guard epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) == 0 else { return nil }
            state.handlers[token] = (fd, handler)
            return Token(value: token)
        }
    }

    /// Runs `job` on the loop's thread, soon.
    func perform(_ job: @escaping @Sendable (borrowing Turn) -> Void) {
        let first = state.withLock { state -> Bool in
            state.jobs.append(job)
            return state.jobs.count == 1
        }
        if first {
            var one: UInt64 = 1
            _ = Glibc.write(wake, &one, MemoryLayout<UInt64>.size)
        }
    }

    /// On the loop's thread only (through `Turn`).
    private func remove(_ token: Token) {
        guard let removed = state.withLock({ $0.handlers.removeValue(forKey: token.value) }) else { return }
        _ = epoll_ctl(epoll, EPOLL_CTL_DEL, removed.fd, nil)
        close(removed.fd)
    }

    private func serve() {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        let turn = Turn(loop: self, buffer: buffer)
        // Not an array: in release builds (Swift 6.3), `&events` given to `epoll_wait` after a
        // slice of the array had been walked copied the array's storage on every wait, and the
        // copies were never freed (~800 bytes per turn: 45 MiB per GiB a job printed). A buffer
        // has no storage to copy.
        let events = UnsafeMutableBufferPointer<epoll_event>.allocate(capacity: 64)
        events.initialize(repeating: epoll_event())
        while true {
            let count = epoll_wait(epoll, events.baseAddress, Int32(events.count), -1)
            if count < 0 {
                // EINTR; nothing else can go wrong with a valid epoll descriptor and array.
                continue
            }
            for index in 0..<Int(count) {
                let token = events[index].data.u64
                if token == Self.wakeToken {
                    var value: UInt64 = 0
                    _ = Glibc.read(wake, &value, MemoryLayout<UInt64>.size)
                    let jobs = state.withLock { state -> [@Sendable (borrowing Turn) -> Void] in
                        defer { state.jobs = [] }
                        return state.jobs
                    }
                    for job in jobs { job(turn) }
                    continue
                }
                // Absent when an earlier event or job of this batch removed it.
                guard let handler = state.withLock({ $0.handlers[token]?.handler }) else { continue }
                if !handler(turn) { remove(Token(value: token)) }
            }
        }
    }
}
