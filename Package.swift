// swift-tools-version: 6.2
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "schedd",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Scheduler", targets: ["Scheduler"]),
        .library(name: "SchedulerControl", targets: ["SchedulerControl"]),
        .library(name: "SchedulerAPI", targets: ["SchedulerAPI"]),
        .library(name: "SchedulerPostgres", targets: ["SchedulerPostgres"]),
        .executable(name: "schedd", targets: ["schedd"]),
        .executable(name: "schedctl", targets: ["schedctl"]),
        .executable(name: "schedd-cgroup-exec", targets: ["schedd-cgroup-exec"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        // No default traits: they compile swift-configuration, which schedd does not use.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        // Already in the graph through hummingbird; named because the control server builds its
        // connections' pipelines itself (docs/performance.md).
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        // Metrics (docs/metrics.md): the engine reports through swift-metrics (already in the
        // graph through hummingbird); the daemon exports them in Prometheus's format.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // Cluster mode (docs/cluster.md): several nodes on one PostgreSQL.
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        // Named for the TLS setting of a TCP connection; in the graph through postgres-nio.
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // Wire and file models shared by the daemon and the CLI. Foundation only, so that
        // schedctl never links the database or the server stack.
        .target(name: "SchedulerAPI", swiftSettings: strict),
        // epoll and eventfd's C headers, for the engine's DescriptorLoop (Glibc lacks them).
        .systemLibrary(name: "CLinuxEvents", path: "Sources/CLinuxEvents"),
        .target(
            name: "Scheduler",
            dependencies: [
                "SchedulerAPI",
                "CLinuxEvents",
                .product(name: "GRDB", package: "GRDB.swift"),
                // SQLite's C API, for the two statements every run executes (`BoundStatement`).
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        // The control API on the Unix socket (HTTP + JSON). Its own target, so that a program
        // that embeds the engine neither builds nor links the server stack.
        .target(
            name: "SchedulerControl",
            dependencies: [
                "Scheduler",
                "SchedulerAPI",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
            ],
            swiftSettings: strict
        ),
        // The PostgreSQL store of cluster mode. Its own target, so that an embedder of the engine
        // on SQLite neither builds nor links the PostgreSQL client.
        .target(
            name: "SchedulerPostgres",
            dependencies: [
                "Scheduler",
                "SchedulerAPI",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "schedd",
            dependencies: [
                "Scheduler",
                "SchedulerControl",
                "SchedulerPostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "schedctl",
            dependencies: [
                "SchedulerAPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        // Moves a process run into its cgroup, then execs the job (`CgroupEntry`). C with its own
        // system calls and no C library, linked statically: it starts without a loader or libc's
        // start-up. The Swift driver links every executable: `-nostartfiles` keeps it from adding
        // the Swift runtime's start-up object, `-static-stdlib` makes the runtime libraries it
        // names archives (nothing is taken from them), and clang's unused `-pie` is not news.
        .executableTarget(
            name: "schedd-cgroup-exec",
            cSettings: [.unsafeFlags(["-ffreestanding", "-fno-stack-protector"], .when(platforms: [.linux]))],
            linkerSettings: [.unsafeFlags(["-nostartfiles", "-static-stdlib", "-Xclang-linker", "-static",
                                           "-Xclang-linker", "-nostdlib",
                                           "-Xclang-linker", "-Wno-unused-command-line-argument"], .when(platforms: [.linux]))]
        ),
        // The fixture is read from the source tree by path, so it is not a bundled resource.
        // The benchmark program (Benchmarks/README.md); run it in release mode.
        .executableTarget(
            name: "schedd-bench",
            dependencies: ["SchedulerAPI", "Scheduler", .product(name: "GRDB", package: "GRDB.swift")],
            path: "Benchmarks/Sources",
            swiftSettings: strict
        ),
        // A throwaway PostgreSQL server for the tests that need one (cluster mode).
        .target(name: "PostgresHarness", path: "Tests/PostgresHarness", swiftSettings: strict),
        .testTarget(name: "SchedulerAPITests", dependencies: ["SchedulerAPI"], exclude: ["Fixtures"], swiftSettings: strict),
        .testTarget(
            name: "SchedulerTests",
            dependencies: ["Scheduler", "SchedulerControl", "SchedulerAPI", "SchedulerPostgres", "PostgresHarness",
                           .product(name: "GRDB", package: "GRDB.swift"),
                           .product(name: "Subprocess", package: "swift-subprocess")],
            swiftSettings: strict
        ),
        // Depends on the executables so that `swift test` builds the real binaries it drives.
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["schedd", "schedctl", "Scheduler", "SchedulerAPI", "PostgresHarness"],
            swiftSettings: strict
        ),
    ],
    swiftLanguageModes: [.v6]
)
