/// Values due at deadlines, served earliest first: what `RunTimeouts` and `MonotonicTimers`
/// keep. A binary min-heap of (deadline, id) beside the live entries by id; a removed entry
/// leaves its heap item behind, dropped when it comes first or when stale items are over half
/// of the heap (and it holds more than 64): removal is O(log n) amortized, and the heap stays
/// about as large as what is live.
struct DeadlineTable<Deadline: Comparable, Value> {
    private var next: UInt64 = 0
    private var entries: [UInt64: (deadline: Deadline, value: Value)] = [:]
    private var heap: [(deadline: Deadline, id: UInt64)] = []

    /// Entries not yet due nor removed, and items in the heap (stale ones included).
    var counts: (live: Int, heap: Int) { (entries.count, heap.count) }

    /// The earliest deadline in the heap: a removed entry's until it is dropped, which only
    /// wakes its server for nothing.
    var earliest: Deadline? { heap.first?.deadline }

    /// Adds `value` due at `deadline`; returns its id, for `remove`.
    mutating func insert(_ value: Value, at deadline: Deadline) -> UInt64 {
        next += 1
        entries[next] = (deadline, value)
        push(deadline, next)
        return next
    }

    /// Forgets an entry; false if it was due (and taken) or removed already.
    @discardableResult
    mutating func remove(_ id: UInt64) -> Bool {
        guard entries.removeValue(forKey: id) != nil else { return false }
        if heap.count > 64 && heap.count > 2 * entries.count {
            heap = []
            for (id, entry) in entries { push(entry.deadline, id) }
        }
        return true
    }

    /// Moves every deadline by `transform`, which must keep their order (adding the same
    /// amount to each does).
    mutating func shift(_ transform: (Deadline) -> Deadline) {
        entries = entries.mapValues { (deadline: transform($0.deadline), value: $0.value) }
        for index in heap.indices { heap[index].deadline = transform(heap[index].deadline) }
    }

    /// Takes the entries due at `now`, earliest first.
    mutating func takeDue(at now: Deadline) -> [Value] {
        var due: [Value] = []
        while let first = heap.first {
            if let entry = entries[first.id] {
                guard entry.deadline <= now else { break }
                due.append(entry.value)
                entries[first.id] = nil
            }
            popFirst()
        }
        return due
    }

    private mutating func push(_ deadline: Deadline, _ id: UInt64) {
        heap.append((deadline, id))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].deadline < heap[parent].deadline else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func popFirst() {
        heap.swapAt(0, heap.count - 1)
        heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < heap.count && heap[left].deadline < heap[smallest].deadline { smallest = left }
            if right < heap.count && heap[right].deadline < heap[smallest].deadline { smallest = right }
            if smallest == parent { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
