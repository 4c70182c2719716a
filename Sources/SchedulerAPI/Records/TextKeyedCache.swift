import Synchronization

/// Values made from text (parsed schedules, decoded job definitions), kept by that text so
/// that the same text is not parsed again; thread-safe. Bounded: past `limit` entries it is
/// emptied and refilled, which costs a re-parse and never a wrong value. Each value is kept in
/// a `SharedValue` that its users may hold too, instead of a copy.
package final class TextKeyedCache<Value: Sendable>: Sendable {
    private let entries = Mutex<[String: SharedValue<Value>]>([:])
    package let limit: Int

    package init(limit: Int) { self.limit = limit }

    package subscript(text: String) -> Value? { entries.withLock { $0[text]?.value } }

    /// The kept value itself, to hold rather than copy.
    package func shared(_ text: String) -> SharedValue<Value>? { entries.withLock { $0[text] } }

    /// Keeps `pairs`; emptied first if they would not fit.
    package func insert(_ pairs: some Collection<(text: String, value: Value)>) {
        keep(pairs.map { ($0.text, SharedValue($0.value)) })
    }

    /// Keeps `value` and returns it as kept.
    @discardableResult
    package func insert(_ value: Value, for text: String) -> SharedValue<Value> {
        let shared = SharedValue(value)
        keep([(text, shared)])
        return shared
    }

    private func keep(_ pairs: [(String, SharedValue<Value>)]) {
        entries.withLock { entries in
            if entries.count + pairs.count > limit { entries.removeAll(keepingCapacity: true) }
            for (text, shared) in pairs { entries[text] = shared }
        }
    }

    /// How many entries it holds.
    package var count: Int { entries.withLock { $0.count } }

    /// After a read of every current text: keeps only `current` when the cache holds more
    /// than twice as many entries and `slack` more, freeing the rest and the room they took.
    /// Texts replaced since (a job file reloaded with changes, jobs updated through the API)
    /// would otherwise stay until `limit`, for ever useless: tens of MiB of decoded job
    /// definitions in a daemon whose jobs change often.
    package func keepOnly(_ current: [(text: String, value: SharedValue<Value>)], slack: Int = 1_000) {
        entries.withLock { entries in
            guard entries.count > 2 * current.count + slack else { return }
            var kept: [String: SharedValue<Value>] = [:]
            kept.reserveCapacity(current.count)
            for (text, value) in current { kept[text] = value }
            entries = kept
        }
    }

    /// Room for `count` entries at once: growing step by step rehashes every entry each time.
    package func reserve(_ count: Int) {
        entries.withLock { entries in entries.reserveCapacity(min(limit, max(entries.count, count))) }
    }
}
