import Foundation
import Logging
import SchedulerAPI
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One line per event on stderr: with `<N>` priority prefixes and no timestamp under journald
/// (which adds its own), timestamped otherwise, or JSON for log shippers. Data goes in metadata,
/// never into the message.
struct DaemonLogHandler: LogHandler {
    enum Format: String, CaseIterable, Sendable {
        case journal, plain, json

        /// journald when stderr is connected to it (`JOURNAL_STREAM` set), else plain.
        static func automatic(environment: [String: String]) -> Format {
            environment["JOURNAL_STREAM"].map { !$0.isEmpty } == true ? .journal : .plain
        }
    }

    let label: String
    let format: Format
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    init(label: String, format: Format, level: Logger.Level) {
        self.label = label
        self.format = format
        self.logLevel = level
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { $1 } }
        if let explicit = event.metadata { all.merge(explicit) { $1 } }
        if let error = event.error { all["schedd.error"] = "\(error)" }
        let text = Self.render(format: format, level: event.level, message: "\(event.message)", metadata: all, date: Date())
        Self.write(text + "\n")
    }

    static func render(format: Format, level: Logger.Level, message: String, metadata: Logger.Metadata, date: Date) -> String {
        let pairs = metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\(quoted("\($0.value)"))" }.joined(separator: " ")
        switch format {
        case .journal:
            return "<\(priority(level))>\(message)\(pairs.isEmpty ? "" : " " + pairs)"
        case .plain:
            return "\(timestamp(date)) \(level.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) \(message)\(pairs.isEmpty ? "" : " " + pairs)"
        case .json:
            var fields: [(String, String)] = [("ts", jsonString(timestamp(date))), ("level", jsonString(level.rawValue)), ("msg", jsonString(message))]
            fields += metadata.sorted { $0.key < $1.key }.map { ($0.key, jsonValue($0.value)) }
            return "{" + fields.map { "\(jsonString($0.0)):\($0.1)" }.joined(separator: ",") + "}"
        }
    }

    /// A metadata value as JSON: numbers and booleans given as such (`.stringConvertible(42)`)
    /// stay numbers and booleans; everything else, strings included, is a string.
    static func jsonValue(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case let .stringConvertible(convertible):
            switch convertible {
            case let n as any BinaryInteger: return "\(n)"
            case let b as Bool: return b ? "true" : "false"
            case let d as Double where d.isFinite: return "\(d)"
            default: return jsonString("\(convertible)")
            }
        case let .array(items):
            return "[" + items.map(jsonValue).joined(separator: ",") + "]"
        case let .dictionary(entries):
            return "{" + entries.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonValue($0.value))" }.joined(separator: ",") + "}"
        case let .string(text):
            return jsonString(text)
        }
    }

    /// syslog priorities, as journald reads them from the `<N>` prefix.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    static func timestamp(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let ms = Int(date.timeIntervalSince1970 * 1000) % 1000
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                      parts.tm_hour, parts.tm_min, parts.tm_sec, ms)
    }

    static func quoted(_ value: String) -> String {
        value.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" || $0.isNewline }) ? jsonString(value) : value
    }

    static func jsonString(_ value: String) -> String {
        JSONValue.string(value).serialized()
    }

    /// Where every handler's lines go: one writer, so that lines never interleave.
    static let writer = Mutex<LogWriter?>(nil)

    /// Starts the writer for `format`; called once, when logging is set up.
    static func startWriter(format: Format) -> LogWriter {
        let started = LogWriter { dropped in
            render(format: format, level: .warning, message: "log lines dropped: stderr did not take them fast enough",
                   metadata: ["schedd.dropped": .stringConvertible(dropped)], date: Date()) + "\n"
        }
        writer.withLock { $0 = started }
        return started
    }

    static func write(_ line: String) {
        writer.withLock { $0 }?.write(line)
    }
}
