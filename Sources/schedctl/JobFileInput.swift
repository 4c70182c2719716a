import Foundation
import SchedulerAPI
#if canImport(Glibc)
import Glibc
#endif

/// The job file that `apply` and `validate` read: a path, or `-` for standard input.
enum JobFileInput {
    /// Its bytes; a file that cannot be read is a usage error that names it and says why.
    /// A pipe is read (`<(generate-jobs)`); a directory or a device is refused by what it is
    /// (Foundation's reading of one said "NSCocoaErrorDomain error 256" or, for /dev/null,
    /// "You don't have permission"; /dev/zero would never end).
    static func read(_ file: String) throws -> Data {
        if file == "-" { return FileHandle.standardInput.readDataToEndOfFile() }
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CommandFailure.usage("cannot read \(file): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        if fstat(fd, &info) == 0, [S_IFDIR, S_IFCHR, S_IFBLK].contains(info.st_mode & S_IFMT) {
            throw CommandFailure.usage("cannot read \(file): it is \(FileKind.name(info.st_mode)), not a job file")
        }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n == 0 { return data }
            if n < 0 {
                if errno == EINTR { continue }
                throw CommandFailure.usage("cannot read \(file): \(String(cString: strerror(errno)))")
            }
            data.append(contentsOf: buffer[..<n])
        }
    }
}
