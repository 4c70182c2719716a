import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// glibc's allocator tuning for a daemon that mostly waits. The functions are looked up at
/// run time: <malloc.h> is not in the Glibc module.
enum Malloc {
    /// glibc gives each thread that allocates an arena of its own; over days, the freed memory
    /// scattered among them is what made an idle schedd with 10,000 jobs hold 79 MiB instead of
    /// 58 (measured: docs/performance.md). `mallopt(M_ARENA_MAX, 1)`; `MALLOC_ARENA_MAX` in the
    /// environment (as the unit sets it, before any thread exists) still wins.
    static func useOneArena() {
        guard ProcessInfo.processInfo.environment["MALLOC_ARENA_MAX"] == nil,
              let mallopt = function("mallopt", as: (@convention(c) (Int32, Int32) -> Int32).self) else { return }
        let arenaMax: Int32 = -8  // M_ARENA_MAX
        _ = mallopt(arenaMax, 1)
    }

    /// `malloc_trim(0)`: gives freed heap back to the system. Loading a large job file leaves
    /// freed memory that glibc would otherwise keep for the daemon's whole life.
    static func trim() {
        guard let trim = function("malloc_trim", as: (@convention(c) (Int) -> Int32).self) else { return }
        _ = trim(0)
    }

    private static func function<F>(_ name: String, as type: F.Type) -> F? {
        dlsym(UnsafeMutableRawPointer(bitPattern: 0), name).map { unsafeBitCast($0, to: type) }
    }
}
