#if canImport(Glibc)
import Glibc
#endif

/// The name a node goes by when none is given: the machine's host name.
public enum NodeName {
    /// The host name (as `hostname` prints it), or "localhost" where there is none.
    public static let host: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }()
}
