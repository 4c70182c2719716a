import Foundation
import Testing
@testable import Scheduler
import SchedulerAPI

/// The run's output pipes on the shared epoll thread, without a process: what is written to
/// the write ends reaches the sink, each byte with its stream, and the reading ends at the
/// pipes' end or when stopped. (Each write is a few bytes into an empty pipe: it never waits.)
@Suite struct RunOutputPipesTests {
    func write(_ text: String, to fd: Int32) {
        _ = Array(text.utf8).withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    }

    func kept(_ sink: OutputSink, _ stream: StandardStream) -> String {
        String(decoding: sink.snapshot.parts.filter { $0.stream == stream }.flatMap(\.bytes), as: UTF8.self)
    }

    @Test func whatIsWrittenIsReadWithItsStreamUntilThePipesEnd() async throws {
        let sink = OutputSink(limit: 1024)
        let pipes = try RunOutputPipes(sink: sink)
        write("out\n", to: pipes.writeEnd(0))
        write("err\n", to: pipes.writeEnd(1))
        try await waitFor("both lines to be read") { sink.snapshot.totalBytes == 8 }
        #expect(!pipes.atEnd)
        pipes.closeWriteEnds()
        try await waitFor("the pipes' end") { pipes.atEnd }
        await pipes.ended()
        #expect(kept(sink, .stdout) == "out\n")
        #expect(kept(sink, .stderr) == "err\n")
    }

    /// What a process that escaped the sweep would do: hold a write end open for ever.
    @Test func stopReadsWhatIsLeftAndEndsThoughAWriteEndIsStillOpen() async throws {
        let sink = OutputSink(limit: 1024)
        let pipes = try RunOutputPipes(sink: sink)
        let held = dup(pipes.writeEnd(0))
        defer { close(held) }
        pipes.closeWriteEnds()
        write("last words\n", to: held)
        pipes.stop()
        try await waitFor("the reading to end") { pipes.atEnd }
        await pipes.ended()
        #expect(kept(sink, .stdout) == "last words\n")
    }

    @Test func aCancelledWaitStopsTheReading() async throws {
        let pipes = try RunOutputPipes(sink: OutputSink(limit: 1024))
        let held = dup(pipes.writeEnd(1))
        defer { close(held) }
        pipes.closeWriteEnds()
        let waiting = Task { await pipes.ended() }
        waiting.cancel()
        // Bounded, so that a cancel that stopped nothing fails here instead of hanging.
        try await waitFor("the cancelled wait to stop the reading") { pipes.atEnd }
        await waiting.value
    }

    /// The kernel's name of the pipe that `fd` is an end of (`pipe:[inode]`).
    func pipeName(_ fd: Int32) -> String {
        var info = stat()
        fstat(fd, &info)
        return "pipe:[\(info.st_ino)]"
    }

    /// Whether this process still has a descriptor of a pipe named `names`.
    func holdsAny(of names: Set<String>) throws -> Bool {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").contains { entry in
            let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(entry)")) ?? ""
            return names.contains(target)
        }
    }

    /// Many pipes opened, read and ended at once, as by many short runs: every one ends, every
    /// byte is where it was written, and no descriptor of them is left open.
    @Test func manyPipesAtOnceAllEndAndLeaveNoDescriptor() async throws {
        let names = try await withThrowingTaskGroup(of: Set<String>.self) { group in
            for index in 0..<200 {
                group.addTask {
                    let sink = OutputSink(limit: 1024)
                    let pipes = try RunOutputPipes(sink: sink)
                    let names: Set = [pipeName(pipes.writeEnd(0)), pipeName(pipes.writeEnd(1))]
                    write("run \(index)\n", to: pipes.writeEnd(0))
                    pipes.closeWriteEnds()
                    try await waitFor("pipe \(index) to end") { pipes.atEnd }
                    #expect(kept(sink, .stdout) == "run \(index)\n")
                    return names
                }
            }
            var all = Set<String>()
            for try await names in group { all.formUnion(names) }
            return all
        }
        #expect(names.count == 400)
        // The loop closes a read end just after it has ended its reading.
        try await waitFor("every read end to be closed") { try !holdsAny(of: names) }
    }
}
