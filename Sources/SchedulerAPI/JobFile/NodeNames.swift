/// The rule for a node's name (`schedd --node`, a job's `node`): it goes into environments,
/// logs and other nodes' listings, so it keeps to a host name's characters.
public enum NodeNames {
    /// Why `name` cannot name a node, or nil.
    public static func problem(_ name: String) -> String? {
        if name.isEmpty || name.utf8.count > 63 { return "a node name has 1 to 63 characters" }
        if !name.utf8.allSatisfy({ allowed.contains($0) }) { return "a node name has only letters, digits, '.', '-' and '_'" }
        return nil
    }

    private static let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_".utf8)
}
