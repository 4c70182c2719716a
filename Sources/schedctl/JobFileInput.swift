import Foundation

/// The job file that `apply` and `validate` read: a path, or `-` for standard input.
enum JobFileInput {
    /// Its bytes; a file that cannot be read is a usage error that names it.
    static func read(_ file: String) throws -> Data {
        do {
            return file == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: file))
        } catch {
            throw CommandFailure.usage("cannot read \(file): \(error.localizedDescription)")
        }
    }
}
