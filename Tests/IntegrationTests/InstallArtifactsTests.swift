import Foundation
import Testing

/// What scripts/install.sh installs besides the binaries: man pages and shell completions.
@Suite(.ownThreads) struct InstallArtifactsTests {
    /// Every man page has a name line, a synopsis with the command and a body.
    @Test func manPagesHaveASynopsisAndNoEmptyPage() throws {
        let scratch = try Scratch()
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../scripts/man-pages.py")
        let result = try Binaries.run(URL(fileURLWithPath: "/usr/bin/env"), ["python3", script.path, Binaries.directory.path, scratch.path("man")])
        #expect(result.status == 0, "\(result.stderr)")
        let pages = try FileManager.default.contentsOfDirectory(atPath: scratch.path("man")).sorted()
        #expect(pages.contains("schedd.1") && pages.contains("schedctl.1") && pages.contains("schedctl-run.1"))
        #expect(pages.count >= 18)
        for page in pages {
            let text = try String(contentsOfFile: scratch.path("man/\(page)"), encoding: .utf8)
            let command = page.dropLast(2).replacingOccurrences(of: "-", with: " ")
            let synopsis = text.components(separatedBy: ".SH SYNOPSIS\n").dropFirst().first?.split(separator: "\n").first ?? ""
            #expect(synopsis.replacingOccurrences(of: "\\fB", with: "").hasPrefix(command.replacingOccurrences(of: " ", with: " ")), "\(page): \(synopsis)")
            #expect(text.contains(".SH DESCRIPTION") && text.contains(".SH OPTIONS"), "\(page)")
        }
    }

    /// Job names are completed by asking the daemon; nothing when it is down.
    @Test func jobNamesAreCompletedFromTheDaemon() throws {
        let d = try Daemon(jobs: #"{"jobs": [{"name": "backup", "shell": "true"}, {"name": "bounce", "shell": "true"}, {"name": "other", "shell": "true"}]}"#)
        let script = try Binaries.run(Binaries.schedctl, ["--generate-completion-script", "bash"]).stdout
        #expect(script.contains("---completion"))
        // What the generated script runs for `schedctl show b<TAB>`.
        let words = ["schedctl", "--socket", d.socket, "show", "b"]
        let completed = try Binaries.run(Binaries.schedctl, ["---completion", "show", "--", "positional@0", "4", "1"] + words)
        #expect(completed.stdout.split(separator: "\n").map(String.init) == ["backup", "bounce"], "\(completed.stdout) \(completed.stderr)")
        let down = try Binaries.run(Binaries.schedctl, ["---completion", "show", "--", "positional@0", "4", "1", "schedctl", "--socket", "/nonexistent/s.sock", "show", "b"])
        #expect(down.stdout.isEmpty)
    }
}
