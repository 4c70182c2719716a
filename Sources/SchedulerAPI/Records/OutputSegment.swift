/// A stretch of a run's kept output that came from one stream: `bytes` bytes of the output's
/// UTF-8 text, in order. A run's segments cover its output from the start; stored in
/// `runs.output_streams` and sent as `output_streams` as `[["stdout", 120], ["stderr", 42]]`.
public struct OutputSegment: Sendable, Equatable, Codable {
    public var stream: StandardStream
    public var bytes: Int

    public init(stream: StandardStream, bytes: Int) {
        self.stream = stream
        self.bytes = bytes
    }

    public init(from decoder: any Decoder) throws {
        var c = try decoder.unkeyedContainer()
        stream = try c.decode(StandardStream.self)
        bytes = try c.decode(Int.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.unkeyedContainer()
        try c.encode(stream)
        try c.encode(bytes)
    }

    /// `output` cut into its streams' parts, in order; all of it stdout when `segments` is nil
    /// (output recorded before streams were told apart, or by a handler).
    public static func parts(of output: String, segments: [OutputSegment]?) -> [(stream: StandardStream, text: String)] {
        guard let segments else { return [(.stdout, output)] }
        let bytes = Array(output.utf8)
        var parts: [(stream: StandardStream, text: String)] = []
        var start = 0
        for segment in segments {
            let end = min(bytes.count, start + max(0, segment.bytes))
            parts.append((segment.stream, String(decoding: bytes[start..<end], as: UTF8.self)))
            start = end
        }
        return parts
    }

    /// The parts of `output` that came from `stream`, in order.
    public static func text(of output: String, segments: [OutputSegment]?, stream: StandardStream) -> String {
        parts(of: output, segments: segments).filter { $0.stream == stream }.map(\.text).joined()
    }

    /// The compact JSON stored in `runs.output_streams`.
    public static func encode(_ segments: [OutputSegment]) -> String {
        "[" + segments.map { "[\"\($0.stream.rawValue)\",\($0.bytes)]" }.joined(separator: ",") + "]"
    }

    /// Reads `runs.output_streams`; nil for NULL or anything unreadable.
    public static func decode(_ text: String?) -> [OutputSegment]? {
        guard let text, case let .array(items)? = try? JSONParser.parse(text) else { return nil }
        var segments: [OutputSegment] = []
        for item in items {
            guard case let .array(pair) = item, pair.count == 2, case let .string(name) = pair[0],
                  let stream = StandardStream(rawValue: name), case let .number(n) = pair[1], let count = Int(n) else { return nil }
            segments.append(OutputSegment(stream: stream, bytes: count))
        }
        return segments
    }
}
