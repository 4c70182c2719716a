import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The metrics, from the real daemon, on the socket and over TCP, checked by `promtool`.
@Suite(.ownThreads) struct MetricsTests {
    static let jobs = #"""
        {"jobs": [{"name": "ok", "shell": "true"}, {"name": "fails", "shell": "exit 3", "retries": 0},
                  {"name": "gone", "shell": "true"}]}
        """#

    /// The body of a raw HTTP answer.
    static func body(_ answer: String) -> String {
        guard let end = answer.range(of: "\r\n\r\n") else { return "" }
        var body = String(answer[end.upperBound...])
        // Chunked: the lines between the sizes.
        if answer[..<end.lowerBound].lowercased().contains("transfer-encoding: chunked") {
            var text = ""
            var rest = Substring(body)
            while let line = rest.range(of: "\r\n"), let size = Int(rest[..<line.lowerBound], radix: 16), size > 0 {
                let start = line.upperBound
                let stop = rest.utf8.index(start, offsetBy: size)
                text += rest[start..<stop]
                rest = rest[stop...].dropFirst(2)
            }
            body = text
        }
        return body
    }

    static func promtool(_ text: String) throws -> Binaries.Result? {
        let path = "/usr/bin/promtool"
        guard FileManager.default.isExecutableFile(atPath: path) else { return nil }
        return try Binaries.run(URL(fileURLWithPath: path), ["check", "metrics"], input: text)
    }

    @Test func theSocketServesEveryMetricInPrometheusFormat() throws {
        let d = try Daemon(jobs: Self.jobs)
        #expect(try d.ctl(["run", "ok", "--wait"]).status == 0)
        #expect(try d.ctl(["run", "ok", "--wait"]).status == 0)
        #expect(try d.ctl(["run", "fails", "--wait"]).status == 3)
        #expect(try d.ctl(["run", "gone", "--wait"]).status == 0)
        let answer = d.raw(Array("GET /v1/metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8))
        #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer.prefix(300))")
        let text = Self.body(answer)
        for line in [#"schedd_runs_total{job="ok",status="succeeded"} 2"#, #"schedd_runs_total{job="fails",status="failed"} 1"#,
                     #"schedd_run_duration_seconds_count{job="ok"} 2"#, #"schedd_jobs{state="active"} 3"#, "schedd_workers ",
                     #"schedd_last_success_timestamp_seconds{job="ok"} "#, "process_open_fds ", "process_resident_memory_bytes ",
                     "process_start_time_seconds ", "schedd_store_write_seconds_count ", "schedd_store_write_failing 0",
                     #"schedd_store_unwritten{kind="run_end"} 0"#, #"schedd_store_unwritten{kind="job_state"} 0"#] {
            #expect(text.contains(line), "\(line) in:\n\(text)")
        }
        if let checked = try Self.promtool(text) {
            #expect(checked.status == 0, "promtool: \(checked.stdout) \(checked.stderr)")
        } else {
            Issue.record("promtool is missing: scripts/install-deps.sh installs Debian's prometheus package")
        }
        // A removed job's series go with it, and a run of it that ends after the removal does
        // not make them again.
        let leaving = try d.ctl(["apply", try d.scratch.write("leaving.json", #"{"jobs": [{"name": "leaving", "shell": "sleep 1"}]}"#)])
        #expect(leaving.status == 0, "\(leaving.stderr)")
        #expect(try d.ctl(["run", "leaving"]).status == 0)
        _ = try d.scratch.write("jobs.json", #"{"jobs": [{"name": "ok", "shell": "true"}, {"name": "fails", "shell": "exit 3", "retries": 0}]}"#)
        let reloaded = try d.ctl(["reload"])
        #expect(reloaded.status == 0, "\(reloaded.stderr)")
        #expect(try d.ctl(["remove", "leaving"]).status == 0)
        #expect(eventually { (try? sqlite(d.db, "SELECT status FROM runs WHERE job = 'leaving'")) == "succeeded" })
        let after = Self.body(d.raw(Array("GET /v1/metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8)))
        #expect(!after.contains(#"job="gone""#) && !after.contains(#"job="leaving""#) && after.contains(#"job="ok""#), "\(after)")
    }

    @Test func metricsListenServesOnlyMetricsOverTCP() throws {
        let d = try Daemon(jobs: Self.jobs, extra: ["--metrics-listen", "127.0.0.1:0"])
        var port = 0
        #expect(eventually {
            guard let range = d.process.stderr().range(of: #"schedd.port=\d+"#, options: .regularExpression) else { return false }
            port = Int(d.process.stderr()[range].dropFirst("schedd.port=".count)) ?? 0
            return port > 0
        }, "\(d.process.stderr())")
        func get(_ path: String) -> String { LocalHTTP.get(port: port, path) }
        let metrics = get("/metrics")
        #expect(metrics.hasPrefix("HTTP/1.1 200") && Self.body(metrics).contains("schedd_workers "), "\(metrics.prefix(300))")
        if let checked = try Self.promtool(Self.body(metrics)) { #expect(checked.status == 0, "\(checked.stdout)") }
        #expect(get("/v1/jobs").hasPrefix("HTTP/1.1 404"))

        // A second daemon asked for the same port cannot have it: it says so and stops.
        let scratch = try Scratch()
        let second = try Binaries.run(Binaries.schedd, ["--db", scratch.path("x.db"), "--socket", scratch.path("s.sock"),
                                                        "--metrics-listen", "127.0.0.1:\(port)"], timeout: 30)
        #expect(second.status == 1)
        #expect(second.stderr.contains("schedd: cannot listen for metrics on 127.0.0.1:\(port) (--metrics-listen): Address already in use"),
                "\(second.stderr)")
        // Its database is closed as at any stop: no WAL left beside it.
        let left = try FileManager.default.contentsOfDirectory(atPath: scratch.url.path).filter { $0.hasPrefix("x.db") }.sorted()
        #expect(left == ["x.db", "x.db.lock"], "\(left)")
    }
}
