/// Which node of a cluster offers a job's slots to the queue first: the node with the highest
/// hash of (node, job), so that the jobs spread over the nodes and every node that knows the
/// same nodes picks the same one, with nothing said between them (rendezvous hashing). The
/// hash is FNV-1a over the names' UTF-8, the same in every process (Swift's `Hasher` is seeded
/// anew in each).
enum FirstNode {
    static func of(job: String, among nodes: Set<String>) -> String? {
        nodes.max { (weight($0, job), $0) < (weight($1, job), $1) }
    }

    static func weight(_ node: String, _ job: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in node.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        hash = (hash ^ 0) &* 0x0000_0100_0000_01b3
        for byte in job.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        // FNV's low bits mix poorly for names that differ only at the end ("b0001", "b0002"):
        // a final avalanche (from MurmurHash3) spreads them.
        hash ^= hash >> 33
        hash &*= 0xff51_afd7_ed55_8ccd
        hash ^= hash >> 33
        return hash
    }
}
