import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `schedctl dashboard`: the page and the API through it, behind its one-time token.
@Suite(.ownThreads) struct DashboardTests {
    /// `schedctl dashboard` running against `d` (as `user`, through setpriv, when given), and
    /// the port and token it printed; stopped when the test releases it.
    final class Dashboard {
        let process = Process()
        var port = 0
        var token = ""

        init(_ d: Daemon, setpriv: [String] = []) throws {
            let output = d.scratch.path("dashboard-\(UUID().uuidString).out")
            _ = FileManager.default.createFile(atPath: output, contents: nil)
            if setpriv.isEmpty {
                process.executableURL = Binaries.schedctl
                process.arguments = ["--socket", d.socket, "dashboard"]
            } else {
                process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
                process.arguments = setpriv + [Binaries.schedctl.path, "--socket", d.socket, "dashboard"]
            }
            process.standardOutput = FileHandle(forWritingAtPath: output)
            process.standardError = FileHandle.nullDevice
            try process.run()
            let printed = eventually {
                let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
                guard let range = text.range(of: #"http://127\.0\.0\.1:\d+/\?token=[0-9a-f]+"#, options: .regularExpression) else { return false }
                let url = URLComponents(string: String(text[range]))
                port = url?.port ?? 0
                token = url?.queryItems?.first?.value ?? ""
                return true
            }
            guard printed else { throw POSIXError(.ETIMEDOUT) }
        }

        var cookie: String { "Cookie: schedd_dashboard=\(token)" }

        deinit {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
        }
    }

    static let jobs = #"{"jobs": [{"name": "ok", "shell": "echo from the dashboard"}, {"name": "other", "shell": "true"}]}"#

    @Test func theTokenOpensThePageAndTheAPIAndNothingElseDoes() throws {
        let d = try Daemon(jobs: Self.jobs)
        let board = try Dashboard(d)
        #expect(LocalHTTP.get(port: board.port, "/").hasPrefix("HTTP/1.1 403"))
        #expect(LocalHTTP.get(port: board.port, "/v1/jobs").hasPrefix("HTTP/1.1 403"))
        #expect(LocalHTTP.get(port: board.port, "/", headers: ["Cookie: schedd_dashboard=0123"]).hasPrefix("HTTP/1.1 403"))
        #expect(LocalHTTP.get(port: board.port, "/?token=nope").hasPrefix("HTTP/1.1 403"))
        // The printed address: a redirect that keeps the token as a cookie, out of the address bar.
        let first = LocalHTTP.get(port: board.port, "/?token=\(board.token)")
        #expect(first.hasPrefix("HTTP/1.1 303") && first.contains("Set-Cookie: schedd_dashboard=\(board.token)") && first.contains("HttpOnly"), "\(first)")
        let page = LocalHTTP.get(port: board.port, "/", headers: [board.cookie])
        #expect(page.hasPrefix("HTTP/1.1 200") && page.contains("<title>schedd</title>"), "\(page.prefix(300))")
        let list = LocalHTTP.get(port: board.port, "/v1/jobs", headers: [board.cookie])
        #expect(list.hasPrefix("HTTP/1.1 200") && list.contains(#""name":"ok""#), "\(list.prefix(300))")
        // An action from the page, and its run's output read back through it.
        let post = LocalHTTP.exchange(port: board.port, "POST /v1/jobs/ok/run HTTP/1.1\r\nHost: 127.0.0.1:\(board.port)\r\n\(board.cookie)\r\nContent-Length: 0\r\n\r\n")
        #expect(post.hasPrefix("HTTP/1.1 201"), "\(post)")
        #expect(eventually { (try? sqlite(d.db, "SELECT status FROM runs WHERE job = 'ok'")) == "succeeded" })
        let id = try sqlite(d.db, "SELECT id FROM runs WHERE job = 'ok'")
        let run = LocalHTTP.get(port: board.port, "/v1/runs/\(id)", headers: [board.cookie])
        #expect(run.contains("from the dashboard"), "\(run)")
        // Another name for the same address is not this dashboard.
        #expect(LocalHTTP.get(port: board.port, "/", host: "evil.example:\(board.port)", headers: [board.cookie]).hasPrefix("HTTP/1.1 403"))
    }

    /// A connection that never sends its request is closed (after 10 s), not given a thread
    /// for ever.
    @Test func aConnectionThatSendsNothingIsClosed() throws {
        let d = try Daemon(jobs: Self.jobs)
        let board = try Dashboard(d)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(board.port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(connected == 0)
        // Three times the proxy's limit: a wait with a way out, not a measure.
        var wait = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
        var byte: UInt8 = 0
        var received = -1
        repeat { received = recv(fd, &byte, 1, 0) } while received < 0 && errno == EINTR
        #expect(received == 0, "the proxy kept the silent connection open for 30 s (recv: \(received), errno \(errno))")
        // And it still serves.
        #expect(LocalHTTP.get(port: board.port, "/", headers: [board.cookie]).hasPrefix("HTTP/1.1 200"))
    }

    @Test(.enabled(if: TestAccounts.available, "needs root, useradd and setpriv"))
    func theDashboardActsWithItsUsersRights() throws {
        let accounts = try TestAccounts()
        let alice = try accounts.add(member: true)
        let d = try Daemon(jobs: Self.jobs, extra: ["--allow-users", accounts.group])
        let file = try d.scratch.write("mine.json", #"{"jobs": [{"name": "mine", "shell": "true"}]}"#)
        chmod(file, 0o644)
        #expect(try accounts.schedctl(as: alice, socket: d.socket, ["apply", file]).status == 0)
        let board = try Dashboard(d, setpriv: ["--reuid=\(alice.uid)", "--regid=\(alice.gid)", "--init-groups"])
        let list = LocalHTTP.get(port: board.port, "/v1/jobs", headers: [board.cookie])
        #expect(list.contains(#""name":"mine""#) && !list.contains(#""name":"ok""#), "\(list)")
        let reload = LocalHTTP.exchange(port: board.port, "POST /v1/reload HTTP/1.1\r\nHost: 127.0.0.1:\(board.port)\r\n\(board.cookie)\r\nContent-Length: 0\r\n\r\n")
        #expect(reload.hasPrefix("HTTP/1.1 403"), "\(reload)")
        withExtendedLifetime(accounts) {}
    }

    /// The page in headless Chromium, driven over the DevTools protocol by
    /// `Tests/Browser/dashboard.py`: it loads through `schedctl dashboard`, shows the jobs, a
    /// run started from the page appears with its output, the timeline draws it. With
    /// `SCHEDD_SCREENSHOTS=DIR`, the screenshots of each view are kept there (docs/images).
    @Test func inARealBrowser() throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../Browser/dashboard.py").standardized.path
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium"),
              (try? Binaries.run(URL(fileURLWithPath: "/usr/bin/python3"), ["-c", "import websockets"]).status) == 0 else {
            Issue.record("chromium or python3-websockets is missing: scripts/install-deps.sh installs them")
            return
        }
        let d = try Daemon(jobs: #"""
            {"jobs": [{"name": "ok", "shell": "echo from the dashboard"}, {"name": "other", "shell": "true"},
                      {"name": "broken", "shell": "echo oops >&2; exit 2", "retries": 0, "max_consecutive_failures": 1},
                      {"name": "nightly-backup", "shell": "true", "schedule": "0 3 * * *"},
                      {"name": "tick", "shell": "sleep 0.2", "schedule": "@every 1s"},
                      {"name": "web", "shell": "sleep 600", "restart": "always"},
                      {"name": "slow", "shell": "sleep 600", "restart": "always", "ready_after": "1h"},
                      {"name": "report", "shell": "true", "requires": ["slow"], "requires_wait": "1h"}]}
            """#)
        // A run that waits for what it requires: the list says what for, as `schedctl list` does.
        // (`run` answers once the run starts; left, the run waits on.)
        let waiting = try LiveOutputTests.Follower(d, ["run", "report"])
        #expect(eventually { waiting.errors.contains("has not started yet") }, "\(waiting.errors)")
        #expect(try d.ctl(["run", "other", "--wait"]).status == 0)
        #expect(try d.ctl(["run", "broken", "--wait"]).status == 2)
        #expect(eventually { (Int((try? sqlite(d.db, "SELECT count(*) FROM runs WHERE job = 'tick' AND status = 'succeeded'")) ?? "") ?? 0) >= 3 })
        let board = try Dashboard(d)
        let shots = ProcessInfo.processInfo.environment["SCHEDD_SCREENSHOTS"] ?? d.scratch.path("shots")
        try FileManager.default.createDirectory(atPath: shots, withIntermediateDirectories: true)
        let driven = try Binaries.run(URL(fileURLWithPath: "/usr/bin/python3"),
                                      [script, "http://127.0.0.1:\(board.port)/?token=\(board.token)", "ok", shots])
        #expect(driven.status == 0, "\(driven.stderr)")
        let seen = try JSONSerialization.jsonObject(with: Data(driven.stdout.utf8)) as? [String: Any] ?? [:]
        #expect((seen["jobs"] as? [String])?.sorted() == ["broken", "nightly-backup", "ok", "other", "report", "slow", "tick", "web"], "\(driven.stdout)")
        #expect((seen["next"] as? [String: String])?["report"] == "a run waits: requires slow, which is starting", "\(driven.stdout)")
        #expect((seen["output"] as? String) == "from the dashboard\n", "\(driven.stdout)")
        #expect(((seen["timeline_bars"] as? Int) ?? 0) >= 5, "\(driven.stdout)")
        // The status line says why the daemon is unhealthy: broken's failure paused it.
        #expect((seen["status"] as? String)?.hasSuffix(" · unhealthy: 1 job needs attention") == true, "\(driven.stdout)")
        for name in ["dashboard-jobs.png", "dashboard-run.png", "dashboard-timeline.png"] {
            #expect(((try? FileManager.default.attributesOfItem(atPath: shots + "/" + name)[.size] as? Int) ?? 0) > 1000, "\(name)")
        }
        #expect(try sqlite(d.db, "SELECT count(*) FROM runs WHERE job = 'ok' AND status = 'succeeded'") == "1")
    }
}
