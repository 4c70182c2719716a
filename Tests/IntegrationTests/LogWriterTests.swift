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
}
