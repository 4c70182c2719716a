/// Parsing and formatting of sizes in job files: `65536`, `512B`, `64KiB`, `1MiB`, `10KB`, `1GB`.
/// Binary units (`KiB`, `MiB`, `GiB`) are powers of 1024, decimal ones (`KB`, `MB`, `GB`) of 1000.
public enum ByteSize {
    private static let units: [(suffix: String, bytes: Int64)] = [
        ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10),
        ("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1_000), ("kB", 1_000), ("B", 1),
    ]

    /// The size in bytes, or nil when `text` is not a size.
    public static func bytes(_ text: String) -> Int64? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        for (suffix, multiplier) in units where trimmed.hasSuffix(suffix) {
            let number = trimmed.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)
            guard let value = Int64(number), value >= 0 else { return nil }
            let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
            return overflow ? nil : product
        }
        guard let value = Int64(trimmed), value >= 0 else { return nil }
        return value
    }

    /// Canonical text: the largest binary unit that divides the size exactly.
    public static func format(bytes: Int64) -> String {
        for (suffix, size) in units where suffix.hasSuffix("iB") && bytes >= size && bytes % size == 0 {
            return "\(bytes / size)\(suffix)"
        }
        return "\(bytes)B"
    }
}

import Foundation
