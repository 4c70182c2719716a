import Testing
@testable import Scheduler

@Suite struct ProcessTableTests {
    func block(_ entries: [String], trailingNUL: Bool = true) -> ArraySlice<UInt8> {
        var bytes: [UInt8] = []
        for entry in entries { bytes += Array(entry.utf8) + [0] }
        if !trailingNUL, !bytes.isEmpty { bytes.removeLast() }
        return bytes[...]
    }

    @Test func findsAWholeEntryByItsNameOnly() {
        let environ = block(["XSCHEDD_RUN_ID=1", "PATH=/bin", "SCHEDD_RUN_ID=42", "SCHEDD_INSTANCE=abc"])
        #expect(ProcessTable.variable("SCHEDD_RUN_ID=", in: environ) == "SCHEDD_RUN_ID=42")
        #expect(ProcessTable.variable("SCHEDD_INSTANCE=", in: environ) == "SCHEDD_INSTANCE=abc")
        #expect(ProcessTable.variable("HOME=", in: environ) == nil)
        #expect(ProcessTable.variable("SCHEDD_RUN_ID=", in: block(["SCHEDD_RUN_ID=7"], trailingNUL: false)) == "SCHEDD_RUN_ID=7")
        #expect(ProcessTable.variable("SCHEDD_RUN_ID=", in: block(["A=SCHEDD_RUN_ID=9"])) == nil)
        #expect(ProcessTable.variable("SCHEDD_RUN_ID=", in: block([])) == nil)
        #expect(ProcessTable.variable("SCHEDD_RUN_ID=", in: block(["SCHEDD_RUN_ID"])) == nil)
    }

    @Test func readsFilesLargerThanTheBuffer() {
        var buffer = [UInt8](repeating: 0, count: 16)
        let status = ProcessTable.read("/proc/self/status", into: &buffer)
        #expect((status?.count ?? 0) > 16)
        #expect(status.map { String(decoding: $0, as: UTF8.self).hasPrefix("Name:") } == true)
    }
}
