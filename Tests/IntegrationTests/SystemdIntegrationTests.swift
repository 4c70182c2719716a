import Foundation
import SchedulerAPI
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A stand-in for systemd's notification socket: collects the datagrams schedd sends.
final class NotifyReceiver {
    let path: String
    let fd: Int32

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        let bound = UnixSocketAddress.with(path) { bind(fd, $0, $1) } ?? -1
        guard bound == 0 else { throw POSIXError(.EADDRINUSE) }
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Messages received until `until` holds for one of them or `seconds` pass.
    func collect(seconds: Double = 15, until: (String) -> Bool) -> [String] {
        var messages: [String] = []
        let deadline = Date().addingTimeInterval(seconds)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 4096, 0) }
            guard n > 0 else { continue }
            let message = String(decoding: buffer[..<n], as: UTF8.self)
            messages.append(message)
            if until(message) { break }
        }
        return messages
    }

    deinit {
        close(fd)
        unlink(path)
    }
}

@Suite(.ownThreads) struct SystemdIntegrationTests {
    @Test func notifiesReadyStatusWatchdogReloadAndStopping() throws {
        let scratch = try Scratch()
        let receiver = try NotifyReceiver(path: scratch.path("notify.sock"))
        let config = try scratch.write("jobs.json", #"{"jobs": [{"name": "a", "shell": "true", "schedule": "@daily"}]}"#)
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = receiver.path
        environment["WATCHDOG_USEC"] = "400000"
        environment["WATCHDOG_PID"] = nil
        let daemon = try DaemonProcess(["--db", scratch.path("schedd.db"), "--config", config], log: scratch.path("log"), environment: environment)

        let startup = receiver.collect { $0.contains("WATCHDOG=1") }
        let ready = try #require(startup.first)
        #expect(ready.hasPrefix("READY=1\nSTATUS=1 job, 0/"))
        #expect(startup.last?.contains("WATCHDOG=1") == true)

        // A refused reload: RELOADING=1, then READY=1 with the error in STATUS=.
        _ = try scratch.write("jobs.json", #"{"jobs": [{"name": "a", "shell": "true", "schedule": "@sometimes"}]}"#)
        kill(daemon.pid, SIGHUP)
        let reload = receiver.collect { $0.hasPrefix("READY=1") }
        #expect(reload.contains { $0.hasPrefix("RELOADING=1\nMONOTONIC_USEC=") })
        #expect(reload.last?.contains("job file refused") == true)

        kill(daemon.pid, SIGTERM)
        let stopping = receiver.collect { $0.hasPrefix("STOPPING=1") }
        #expect(stopping.last?.hasPrefix("STOPPING=1") == true)
        #expect(daemon.terminate() == 0)
    }

    @Test func logsWithPriorityPrefixesUnderJournald() throws {
        let scratch = try Scratch()
        var environment = ProcessInfo.processInfo.environment
        environment["JOURNAL_STREAM"] = "8:12345"
        let daemon = try DaemonProcess(["--db", scratch.path("schedd.db")], log: scratch.path("log"), environment: environment)
        #expect(daemon.waitUntilStarted())
        #expect(daemon.terminate() == 0)
        let lines = daemon.stderr().split(separator: "\n")
        #expect(!lines.isEmpty)
        #expect(lines.allSatisfy { $0.hasPrefix("<6>") || $0.hasPrefix("<5>") || $0.hasPrefix("<4>") })
        #expect(lines.contains { $0.hasPrefix("<6>schedd started schedd.db=") })
    }

    @Test func jsonLogsAreOneObjectPerLine() throws {
        let scratch = try Scratch()
        let daemon = try DaemonProcess(["--db", scratch.path("schedd.db"), "--log-format", "json"], log: scratch.path("log"))
        #expect(daemon.waitUntilStarted(), "\(daemon.stderr())")
        #expect(daemon.terminate() == 0, "\(daemon.stderr())")
        for line in daemon.stderr().split(separator: "\n") {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["msg"] is String && object?["level"] is String && object?["ts"] is String)
        }
    }
}

@Suite(.ownThreads) struct UnitFileTests {
    static let unit = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../contrib/systemd/schedd.service").standardized.path

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze"), "needs systemd-analyze"))
    func theUnitPassesSystemdAnalyzeVerify() throws {
        let scratch = try Scratch()
        let text = try String(contentsOfFile: Self.unit, encoding: .utf8)
            .replacingOccurrences(of: "/usr/local/bin/schedd", with: Binaries.schedd.path)
        let copy = try scratch.write("schedd.service", text)
        let result = try Binaries.run(URL(fileURLWithPath: "/usr/bin/systemd-analyze"), ["verify", copy])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!result.stderr.contains("schedd.service:"), "\(result.stderr)")
    }

    @Test func theUnitHasWhatTheDaemonRelieson() throws {
        let text = try String(contentsOfFile: Self.unit, encoding: .utf8)
        for line in ["Type=notify", "WatchdogSec=", "ExecReload=/bin/kill -HUP $MAINPID", "KillMode=mixed",
                     "StateDirectory=schedd", "RuntimeDirectory=schedd", "NoNewPrivileges=yes", "PrivateTmp=yes"] {
            #expect(text.contains(line), "\(line)")
        }
    }
}
