import Foundation

/// The jobs' next due times, earliest first (a binary min-heap), so that a wake-up costs what
/// is due rather than a pass over every job: with 10,000 jobs the engine wakes thousands of
/// times a second.
///
/// Entries are never updated in place: a job whose due time changes gets a new entry, and the
/// caller skips an entry that no longer matches its job (`popDue(now:isCurrent:)`).
struct DueQueue {
    private var heap: [(due: Date, job: String)] = []

    var count: Int { heap.count }

    /// Replaces every entry.
    mutating func rebuild(_ entries: [(due: Date, job: String)]) {
        heap = entries
        guard heap.count > 1 else { return }
        for index in stride(from: heap.count / 2 - 1, through: 0, by: -1) { siftDown(index) }
    }

    mutating func push(_ due: Date, job: String) {
        heap.append((due, job))
        siftUp(heap.count - 1)
    }

    /// Removes the entries due at `now` or before and returns their jobs (each once), for
    /// those that `isCurrent` still says are due then.
    mutating func popDue(now: Date, isCurrent: (String, Date) -> Bool) -> Set<String> {
        var due: Set<String> = []
        while let top = heap.first, top.due <= now {
            removeTop()
            if isCurrent(top.job, top.due) { due.insert(top.job) }
        }
        return due
    }

    /// The earliest due time of a current entry; stale entries at the top are dropped.
    mutating func earliest(isCurrent: (String, Date) -> Bool) -> Date? {
        while let top = heap.first {
            if isCurrent(top.job, top.due) { return top.due }
            removeTop()
        }
        return nil
    }

    private mutating func removeTop() {
        let last = heap.removeLast()
        guard !heap.isEmpty else { return }
        heap[0] = last
        siftDown(0)
    }

    private func less(_ a: Int, _ b: Int) -> Bool {
        heap[a].due < heap[b].due || (heap[a].due == heap[b].due && heap[a].job < heap[b].job)
    }

    private mutating func siftUp(_ start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard less(child, parent) else { return }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < heap.count && less(left, smallest) { smallest = left }
            if right < heap.count && less(right, smallest) { smallest = right }
            guard smallest != parent else { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
