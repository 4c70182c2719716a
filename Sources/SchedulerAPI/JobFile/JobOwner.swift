/// Who owns a job: a user's job is named `OWNER/NAME` (`alice/backup`); every other job is
/// the administrators'. Admins see and name users' jobs by the full name; a user names their
/// own by the part after the slash, and sees no one else's.
public enum JobOwner {
    /// The user a job name belongs to, or nil for an administrators' job.
    public static func owner(of name: String) -> String? {
        guard let slash = name.firstIndex(of: "/") else { return nil }
        return String(name[..<slash])
    }

    /// The stored name of `user`'s job `name`.
    public static func qualified(_ name: String, owner user: String) -> String {
        "\(user)/\(name)"
    }

    /// An account name as Linux tools accept it: 1-32 of letters, digits, '_', '.', '-',
    /// not starting with '-' or '.'.
    public static func isValidAccountName(_ s: String) -> Bool {
        let bytes = Array(s.utf8)
        guard (1...32).contains(bytes.count), bytes[0] != UInt8(ascii: "-"), bytes[0] != UInt8(ascii: ".") else { return false }
        return bytes.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b == 0x2E || b == 0x2D
        }
    }
}
