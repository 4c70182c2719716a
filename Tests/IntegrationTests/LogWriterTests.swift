import Foundation
import Testing
@testable import schedd
#if canImport(Glibc)
import Glibc
#endif

/// The daemon's log never makes a logging task wait for stderr.
@Suite(.ownThreads) struct LogWriterTests {
    init() {
        // A writer thread may still write when a test closes the pipe's read end: EPIPE,
        // not a signal that ends the test process.
        signal(SIGPIPE, SIG_IGN)
    }

    /// A pipe nobody reads: writing goes on without waiting, what does not fit is counted, and
    /// once the reader drains the pipe it gets the lines that fitted, then the count.
    @Test func aStderrThatIsNotReadNeverBlocksALogger() async throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]) }
        let writer = LogWriter(fd: fds[1], limit: 64 << 10) { "dropped \($0)\n" }
        // Far more than the pipe (64 KiB) and the buffer hold: returns at once all the same.
        let line = String(repeating: "x", count: 99) + "\n"
        for _ in 0..<5_000 { writer.write(line) }
        // Drain the pipe off the cooperative pool, until the count of dropped lines shows.
        let readEnd = fds[0]
        let read = await withCheckedContinuation { (continuation: CheckedContinuation<String, Never>) in
            Thread {
                var text = ""
                var buffer = [UInt8](repeating: 0, count: 1 << 16)
                while !text.contains("dropped") {
                    let n = Glibc.read(readEnd, &buffer, buffer.count)
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { break }
                    text += String(decoding: buffer[0..<n], as: UTF8.self)
                }
                continuation.resume(returning: text)
            }.start()
        }
        let lines = read.split(separator: "\n")
        #expect(lines.first == Substring(line.dropLast()))
        // The count comes after the lines queued before the buffer filled.
        let countLine = try #require(lines.firstIndex { $0.hasPrefix("dropped ") })
        let dropped = Int(lines[countLine].dropFirst("dropped ".count)) ?? 0
        #expect(dropped > 0 && countLine > 0)
        #expect(lines[..<countLine].allSatisfy { $0 == Substring(line.dropLast()) })
        #expect(countLine + dropped <= 5_000)
        // The write end stays open: the writer thread may still write to it, and a closed
        // descriptor's number may be reused by another test.
    }

    /// A flush has a way out: with stderr never read, it gives up after its limit.
    @Test func aFlushDoesNotWaitForEverForAStderrNobodyReads() async throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        // Only the read end is closed (the writer then gets EPIPE): see above.
        defer { close(fds[0]) }
        let writer = LogWriter(fd: fds[1], limit: 1 << 20) { "dropped \($0)\n" }
        // More than the pipe holds: the writer thread stays blocked in write(2).
        for _ in 0..<2_000 { writer.write(String(repeating: "y", count: 99) + "\n") }
        await writer.flush(limit: .milliseconds(100))
    }

    /// The way out holds also when the writer has taken the flush's lines together with the
    /// flush and is blocked writing them: a flush could wait for ever there, and the test
    /// process (or a daemon on its way out) with it.
    @Test func aFlushWhoseLinesAreBeingWrittenStillEndsByItsLimit() async throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]) }
        // Fill the pipe first, so that every write of the writer blocks.
        let flags = fcntl(fds[1], F_GETFL)
        #expect(fcntl(fds[1], F_SETFL, flags | O_NONBLOCK) == 0)
        let chunk = [UInt8](repeating: UInt8(ascii: "f"), count: 4096)
        var filled = 0
        while true {
            let n = chunk.withUnsafeBytes { Glibc.write(fds[1], $0.baseAddress!, $0.count) }
            if n <= 0 { break }
            filled += n
        }
        #expect(fcntl(fds[1], F_SETFL, flags) == 0)
        let writer = LogWriter(fd: fds[1], limit: 1 << 20) { "dropped \($0)\n" }
        // A first line the writer may take and block on at once; then more, and the flush.
        let first = String(repeating: "a", count: 99) + "\n"
        writer.write(first)
        for _ in 0..<2_000 { writer.write(String(repeating: "b", count: 99) + "\n") }
        let flushed = Task { await writer.flush(limit: .milliseconds(200)) }
        var waited = Duration.zero
        while writer.flushesWaiting == 0 && waited < .seconds(10) {
            try await Task.sleep(for: .milliseconds(1))
            waited += .milliseconds(1)
        }
        #expect(writer.flushesWaiting == 1)
        // Room for the filling and the first line: a writer blocked on the first line now
        // takes the rest with the flush and blocks again; one that took everything at once,
        // the flush with it, is still blocked.
        let readEnd = fds[0]
        let drain = filled + first.utf8.count
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Thread {
                var buffer = [UInt8](repeating: 0, count: drain)
                var total = 0
                while total < buffer.count {
                    let n = buffer.withUnsafeMutableBytes { Glibc.read(readEnd, $0.baseAddress! + total, $0.count - total) }
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { break }
                    total += n
                }
                continuation.resume()
            }.start()
        }
        await flushed.value
        #expect(writer.flushesWaiting == 0)
    }
}
