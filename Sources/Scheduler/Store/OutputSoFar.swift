import SchedulerAPI

/// A run's output as a cluster's node last wrote it to the run's row (`StoreReader.outputSoFar`):
/// the kept tail, and how many bytes the run had printed by then, so that a reader on another
/// node knows which of them it has not printed yet.
package struct OutputSoFar: Sendable, Equatable {
    package var status: RunStatus
    /// The kept tail as text (what `output` holds).
    package var text: String
    /// Which stream each part of `text` came from; nil when all of it is stdout.
    package var streams: [OutputSegment]?
    /// Every byte the run had printed when `text` was written; nil when its node has not
    /// written any yet (or did not count them).
    package var totalBytes: Int64?
    /// The retry that follows the attempt (a failed one, or one that a shutdown stopped): marked
    /// with its end, or already started once the end is read.
    package var retry: RetryStatus?

    package init(status: RunStatus, text: String, streams: [OutputSegment]?, totalBytes: Int64?, retry: RetryStatus? = nil) {
        self.status = status
        self.text = text
        self.streams = streams
        self.totalBytes = totalBytes
        self.retry = retry
    }

    /// The parts of the output after byte `offset` of all the run printed, each with its
    /// stream and its own offset; `offset` moves to the end of what is returned. When the
    /// text no longer holds the bytes right after `offset` (dropped from the tail), the parts
    /// start later: the gap shows in their offsets.
    package func parts(after offset: inout Int64) -> [(offset: Int64, stream: StandardStream, bytes: [UInt8])] {
        let kept = Array(text.utf8)
        let total = totalBytes ?? Int64(kept.count)
        guard total > offset else { return [] }
        let start = max(0, total - Int64(kept.count))
        let from = Int(max(offset, start) - start)
        var result: [(offset: Int64, stream: StandardStream, bytes: [UInt8])] = []
        var position = 0
        for segment in streams ?? [OutputSegment(stream: .stdout, bytes: kept.count)] {
            let end = min(kept.count, position + segment.bytes)
            let low = max(position, from)
            if low < end { result.append((start + Int64(low), segment.stream, Array(kept[low..<end]))) }
            position = end
        }
        offset = total
        return result
    }
}
