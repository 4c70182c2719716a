import Foundation
import PostgresNIO
import Scheduler
import SchedulerAPI

/// A run's output followed from another node: the follower's node asks for it through the
/// run's row (`output_wanted_until`) and wakes the run's node; that node writes the output so
/// far to the row while it is asked for (`NodeHeartbeat`), and the follower's node reads it.
extension PostgresStore {
    /// The channel a follower's node wakes the run's node on (the payload: its name, or `*`
    /// for a queued run that any node may claim).
    static let outputChannel = "schedd_output"

    /// How long one ask for a run's output lasts; a follower asks again well before.
    static let outputAskSeconds = 10

    package func followOutput(runID: Int64) async throws -> Bool {
        let node = self.node
        let epoch = self.epoch
        let seconds = Self.outputAskSeconds
        return try await call("follow output") { connection in
            var target: String?
            for try await value in try await connection.query("""
                UPDATE runs SET output_wanted_until = now() + make_interval(secs => \(seconds))
                WHERE id = \(runID) AND (status = 'queued' OR (status = 'running' AND (node <> \(node) OR epoch <> \(epoch))))
                RETURNING CASE WHEN status = 'running' THEN node ELSE coalesce(queue_node, '*') END
                """).decode(String.self) { target = value }
            guard let target else { return false }
            _ = try await connection.query("SELECT pg_notify(\(Self.outputChannel), \(target))")
            return true
        }
    }

    package func outputSoFar(runID: Int64) async throws -> OutputSoFar? {
        try await call("output so far") { connection in
            var found: OutputSoFar?
            // A failed attempt's retry is marked in the write of its end: read with it, it is
            // there when the end is. A retry that has already started (or been recorded
            // skipped) when the end is first read is told too, so that a follower knows one came
            // (its node may start it at once: a node back from a restart).
            for try await (status, text, streams, total, attempt, retryAt, retryRowAt, retryNode) in try await connection.query("""
                SELECT status, coalesce(output, ''), output_streams, output_total, attempt,
                       CASE WHEN \(unescaped: RetryMarkSQL.pending) THEN r.retry_at END,
                       CASE WHEN r.status NOT IN ('queued', 'running') THEN (SELECT n.started_at FROM runs n WHERE n.retry_of = r.id LIMIT 1) END,
                       coalesce(retry_node, node)
                FROM runs r WHERE id = \(runID)
                """).decode((String, String, String?, Int64?, Int, Date?, Date?, String).self) {
                found = OutputSoFar(status: RunStatus(rawValue: status) ?? .failed, text: text,
                                    streams: OutputSegment.decode(streams), totalBytes: total,
                                    retry: (retryAt ?? retryRowAt).map { RetryStatus(attempt: attempt + 1, dueAt: Self.ms($0), retryOf: runID, node: retryNode) })
            }
            return found
        }
    }

    /// This node's running runs whose output another node follows.
    public func outputWanted() async throws -> [Int64] {
        let node = self.node
        let epoch = self.epoch
        return try await call("output wanted") { connection in
            var ids: [Int64] = []
            for try await id in try await connection.query("""
                SELECT id FROM runs
                WHERE status = 'running' AND node = \(node) AND epoch = \(epoch) AND output_wanted_until > now()
                """).decode(Int64.self) { ids.append(id) }
            return ids
        }
    }

    /// Writes the output so far of runs of this node that another node follows, in one
    /// statement; a run that has ended meanwhile keeps what its end wrote.
    public func writeOutputSoFar(_ tails: [(runID: Int64, tail: OutputTail)]) async throws {
        guard !tails.isEmpty else { return }
        let node = self.node
        let epoch = self.epoch
        let rows = try String(decoding: JSONEncoder().encode(tails.map { SharedOutputRow($0.runID, $0.tail) }), as: UTF8.self)
        try await call("write output so far") { connection in
            try await connection.query("""
                UPDATE runs r SET output = v.output, output_streams = v.output_streams, output_truncated = v.output_truncated,
                    output_total = v.output_total
                FROM jsonb_to_recordset(\(rows)::jsonb) AS v(id bigint, output text, output_streams text, output_truncated boolean,
                    output_total bigint)
                WHERE r.id = v.id AND r.status = 'running' AND r.node = \(node) AND r.epoch = \(epoch)
                """)
        }
    }

    /// A run's output so far as `writeOutputSoFar` sends it.
    private struct SharedOutputRow: Encodable {
        var id: Int64
        var output: String
        var output_streams: String?
        var output_truncated: Bool
        var output_total: Int64

        init(_ id: Int64, _ tail: OutputTail) {
            let (text, streams) = tail.textWithStreams
            self.id = id
            // As a run's end is stored: PostgreSQL's text holds no NUL.
            output = text.utf8.contains(0) ? text.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}") : text
            output_streams = streams.map(OutputSegment.encode)
            output_truncated = tail.truncated
            output_total = tail.totalBytes
        }
    }
}
