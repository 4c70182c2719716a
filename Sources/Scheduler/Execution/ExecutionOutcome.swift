import Foundation
import Logging
import SchedulerAPI

/// How an attempt ended, as far as the executor knows (timeouts and cancellation are decided
/// by the worker that cancelled it).
public struct ExecutionOutcome: Sendable, Equatable {
    public enum Ending: Sendable, Equatable {
        case exited(Int32)
        case signaled(Int32)
        /// An in-process handler returned.
        case returned
        /// An in-process handler threw, or the process could not be started.
        case failed(String)
    }

    public var ending: Ending
    public var output: String
    public var outputTruncated: Bool
    /// Which stream each part of `output` came from; nil when all of it is stdout.
    public var outputStreams: [OutputSegment]?
    /// Every byte of output the run printed, kept or not, when known.
    public var outputBytes: Int64?

    public init(ending: Ending, output: String = "", outputTruncated: Bool = false, outputStreams: [OutputSegment]? = nil,
                outputBytes: Int64? = nil) {
        self.ending = ending
        self.output = output
        self.outputTruncated = outputTruncated
        self.outputStreams = outputStreams
        self.outputBytes = outputBytes
    }

    /// An ending with what a run's output tail holds.
    public init(ending: Ending, tail: OutputTail) {
        let (text, streams) = tail.textWithStreams
        self.init(ending: ending, output: text, outputTruncated: tail.truncated, outputStreams: streams, outputBytes: tail.totalBytes)
    }

    public var succeeded: Bool {
        switch ending {
        case .exited(0), .returned: return true
        default: return false
        }
    }
}
