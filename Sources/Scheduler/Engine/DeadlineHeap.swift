/// Entries by deadline, earliest first: a binary min-heap of (deadline, id), where the id
/// names an entry kept elsewhere. Its owners remove an entry by forgetting its id and drop the
/// heap's stale entries as they pop them, or `compact` it when they outnumber the live ones.
struct DeadlineHeap<Deadline: Comparable> {
    private(set) var items: [(deadline: Deadline, id: UInt64)] = []

    var first: (deadline: Deadline, id: UInt64)? { items.first }
    var count: Int { items.count }

    mutating func push(_ deadline: Deadline, _ id: UInt64) {
        items.append((deadline, id))
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].deadline < items[parent].deadline else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func popFirst() {
        guard !items.isEmpty else { return }
        items.swapAt(0, items.count - 1)
        items.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < items.count && items[left].deadline < items[smallest].deadline { smallest = left }
            if right < items.count && items[right].deadline < items[smallest].deadline { smallest = right }
            if smallest == parent { return }
            items.swapAt(parent, smallest)
            parent = smallest
        }
    }

    /// Rebuilds the heap from the live entries when stale ones are over half of it (and it
    /// holds more than 64): removals then cost O(log n) amortized, and the heap stays about
    /// as large as what is live.
    mutating func compact<Entries: Collection>(live: Entries, deadline: (Entries.Element) -> (Deadline, UInt64)) {
        guard items.count > 64 && items.count > 2 * live.count else { return }
        items = []
        for element in live {
            let (due, id) = deadline(element)
            push(due, id)
        }
    }
}
