/// Suggestions for misspelt names in error messages (`shedule` → `schedule`).
public enum NearMiss {
    /// The candidate closest to `word` by edit distance, if it is close enough to be a typo.
    /// Cheap over many candidates (a daemon's jobs on every 404): one past reach is left as
    /// soon as that shows, by its length or as the distance is worked out.
    public static func suggest(_ word: String, among candidates: some Sequence<String>) -> String? {
        let lowered = Array(word.lowercased().utf8)
        var best: (String, Int)?
        for candidate in candidates {
            let other = Array(candidate.lowercased().utf8)
            // Past this a candidate can be no suggestion, nor closer than the best so far.
            let reach = min(maximumReach, (best?.1 ?? Int.max) - 1)
            guard reach >= 0, abs(other.count - lowered.count) <= reach else { continue }
            if let distance = editDistance(lowered, other, within: reach) { best = (candidate, distance) }
        }
        guard let (candidate, distance) = best else { return nil }
        let allowed = max(1, min(3, candidate.count / 3))
        return distance <= allowed ? candidate : nil
    }

    /// The most edits a suggestion may be away (`suggest` allows 1 to 3, by the length).
    static let maximumReach = 3

    /// The optimal string alignment distance (insertions, deletions, substitutions and swaps of
    /// two adjacent characters each cost one) if it is at most `reach`, else nil; three rows
    /// at a time.
    static func editDistance(_ a: [UInt8], _ b: [UInt8], within reach: Int) -> Int? {
        if a.isEmpty { return b.count <= reach ? b.count : nil }
        if b.isEmpty { return a.count <= reach ? a.count : nil }
        var before = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            var rowBest = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                var value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    value = min(value, before[j - 2] + 1)
                }
                current[j] = value
                rowBest = min(rowBest, value)
            }
            // A row's least never falls in the rows after it (a swap's cell is no less than the
            // cell diagonally before it): past reach, the distance is too.
            if rowBest > reach { return nil }
            (before, previous, current) = (previous, current, before)
        }
        let distance = previous[b.count]
        return distance <= reach ? distance : nil
    }
}
