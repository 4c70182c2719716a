import Synchronization

/// A bounded queue from producers to one consumer whose newest element may take in the next
/// one (`merge`) instead of queueing it: how a run's output reaches someone who follows it.
/// A job that prints a line per `write(2)` (a shell loop of `echo`) makes a chunk per line;
/// queued one by one, 256 of them filled a follower's queue in a blink, and the follower lost
/// output while it read as fast as it could. Merged, contiguous chunks of one run and stream
/// wait as one, however small they came.
package final class CoalescingQueue<Element: Sendable>: Sendable {
    /// What `push` does when the element does not fit.
    package enum Overflow: Sendable {
        /// Drops the oldest elements to make room (a subscription that skips ahead).
        case dropOldest
        /// Adds nothing and says so (the consumer is then dropped as too slow).
        case refuse
    }

    private struct State {
        var items: [Element] = []
        /// Where the queue starts in `items` (taken elements stay until compacted).
        var head = 0
        var size = 0
        var waiter: CheckedContinuation<Element?, Never>?
        var finished = false

        var count: Int { items.count - head }

        mutating func removeFirst(sizeOf size: (Element) -> Int) -> Element {
            let element = items[head]
            head += 1
            self.size -= size(element)
            if head == items.count {
                items.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 64 && head * 2 >= items.count {
                items.removeFirst(head)
                head = 0
            }
            return element
        }
    }

    private let state = Mutex(State())
    private let maxCount: Int
    private let maxSize: Int
    private let overflow: Overflow
    private let sizeOf: @Sendable (Element) -> Int
    private let merge: @Sendable (inout Element, Element) -> Bool
    private let onDeinit: (@Sendable () -> Void)?

    /// - Parameters:
    ///   - maxCount: the most elements that wait.
    ///   - maxSize: the most of their `sizeOf` that waits.
    ///   - merge: takes the second element into the first (the newest waiting) and returns
    ///     true, or leaves the first as it is and returns false.
    ///   - onDeinit: called once the queue is released (its consumer is gone).
    package init(maxCount: Int, maxSize: Int = .max, overflow: Overflow, sizeOf: @escaping @Sendable (Element) -> Int = { _ in 0 },
                 merge: @escaping @Sendable (inout Element, Element) -> Bool, onDeinit: (@Sendable () -> Void)? = nil) {
        self.maxCount = max(1, maxCount)
        self.maxSize = maxSize
        self.overflow = overflow
        self.sizeOf = sizeOf
        self.merge = merge
        self.onDeinit = onDeinit
    }

    deinit { onDeinit?() }

    /// Adds `element`, merged into the newest waiting one when it can be. False when it did
    /// not fit and `.refuse` left it out; with `force` it is added whatever the bounds (a last
    /// word before the consumer is dropped). After `finish` nothing is added.
    @discardableResult
    package func push(_ element: Element, force: Bool = false) -> Bool {
        let size = sizeOf(element)
        let (taken, waiter) = state.withLock { state -> (Bool, CheckedContinuation<Element?, Never>?) in
            guard !state.finished else { return (false, nil) }
            if let waiter = state.waiter {
                state.waiter = nil
                return (true, waiter)
            }
            if !force && overflow == .refuse && state.size + size > maxSize { return (false, nil) }
            let last = state.items.count - 1
            let before = state.count > 0 ? sizeOf(state.items[last]) : 0
            if state.count > 0 && merge(&state.items[last], element) {
                state.size += sizeOf(state.items[last]) - before
                while overflow == .dropOldest && !force && state.count > 1 && state.size > maxSize {
                    _ = state.removeFirst(sizeOf: sizeOf)
                }
                return (true, nil)
            }
            if !force {
                switch overflow {
                case .refuse:
                    if state.count + 1 > maxCount || state.size + size > maxSize { return (false, nil) }
                case .dropOldest:
                    while state.count > 0 && (state.count + 1 > maxCount || state.size + size > maxSize) {
                        _ = state.removeFirst(sizeOf: sizeOf)
                    }
                }
            }
            state.items.append(element)
            state.size += size
            return (true, nil)
        }
        waiter?.resume(returning: element)
        return taken
    }

    /// The oldest waiting element; waits for one. Nil once finished and drained, or when the
    /// waiting task is cancelled.
    package func next() async -> Element? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Element?, Never>) in
                let ready = state.withLock { state -> Element?? in
                    if state.count > 0 { return .some(state.removeFirst(sizeOf: sizeOf)) }
                    if state.finished || Task.isCancelled { return .some(nil) }
                    state.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            state.withLock { state -> CheckedContinuation<Element?, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }?.resume(returning: nil)
        }
    }

    /// Ends the queue: what waits is still handed out, then `next` returns nil.
    package func finish() {
        let waiter = state.withLock { state -> CheckedContinuation<Element?, Never>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// Whether the consumer waits in `next` for an element: a barrier for tests.
    package var consumerWaits: Bool { state.withLock { $0.waiter != nil } }

    /// How many elements wait (after merging).
    package var count: Int { state.withLock { $0.count } }
}
