// swift-tools-version:6.2
import PackageDescription

/// Settings every target of ours shares.
///
/// Swift 6 language mode comes from the tools version; the upcoming features keep imports and existentials explicit,
/// and a warning fails the build (only in our targets, not in dependencies).
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .treatAllWarnings(as: .error),
]

let package = Package(
    name: "Chainkeeper",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "chainkeeper", targets: ["chainkeeper"]),
        .executable(name: "chainkeeperd", targets: ["chainkeeperd"]),
        .executable(name: "chainkeeper-fuzz", targets: ["chainkeeper-fuzz"]),
        .executable(name: "chainkeeper-bench", targets: ["chainkeeper-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
    ],
    targets: [
        // Pure core: no file system, network or clock. FoundationEssentials at most (CI checks it).
        .target(name: "ChainModel", swiftSettings: strictSettings),
        .target(name: "DecisionEngine", dependencies: ["ChainModel"], swiftSettings: strictSettings),
        .target(name: "DiskFormats", dependencies: ["ChainModel"], swiftSettings: strictSettings),
        .target(
            name: "ClusterSimulator",
            dependencies: ["ChainModel", "DecisionEngine"],
            swiftSettings: strictSettings
        ),
        // Test support (pure): sample images, mutations and a seeded generator, shared by the tests,
        // the fuzzer and the benchmarks. Never a dependency of the product executables.
        .target(name: "DiskFormatsTesting", dependencies: ["DiskFormats"], swiftSettings: strictSettings),
        // Test support (I/O): the built binaries, loopback ports, daemons stopped with real signals.
        .target(name: "ClusterTestSupport", swiftSettings: strictSettings),
        .target(
            name: "ShellHooks",
            dependencies: ["ChainModel", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
        .target(
            name: "ClusterTLS",
            dependencies: [
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),

        // I/O shells.
        .target(
            name: "ClusterEtcd",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "ClusterAuthority",
            dependencies: ["ChainModel", "ClusterEtcd"],
            swiftSettings: strictSettings
        ),
        .target(name: "DiskAccess", dependencies: ["DiskFormats", "ChainModel"], swiftSettings: strictSettings),
        // Both daemons' config files: YAML or JSON, environment overrides, Codable, errors that name the key.
        .target(
            name: "ConfigFile",
            dependencies: ["ChainModel", .product(name: "Yams", package: "Yams")],
            swiftSettings: strictSettings
        ),
        .target(
            name: "ClusterStore",
            dependencies: [
                "ChainModel",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "ClusterAPI",
            dependencies: ["ChainModel", "DecisionEngine", "DiskFormats"],
            swiftSettings: strictSettings
        ),
        .target(
            name: "ClusterClient",
            dependencies: [
                "ClusterAPI",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "Coordinator",
            dependencies: [
                "ClusterAuthority", "ClusterEtcd", "ConfigFile",
                "ChainModel", "DecisionEngine", "ClusterStore", "ClusterAPI", "ShellHooks", "ClusterTLS",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "Agent",
            dependencies: ["ChainModel", "DiskFormats", "DiskAccess", "ClusterAPI", "ShellHooks"],
            swiftSettings: strictSettings
        ),
        // libvirt's C API, loaded at run time (dlopen): every binary starts where libvirt is not installed.
        .target(name: "LibvirtClient", swiftSettings: strictSettings),
        .target(
            name: "AgentService",
            dependencies: [
                "ConfigFile", "ClusterClient", "LibvirtClient",
                "Agent", "ChainModel", "ClusterAPI", "DecisionEngine", "DiskAccess", "DiskFormats", "ShellHooks",
                .product(name: "GRDB", package: "GRDB.swift"),
                "ClusterTLS",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "chainkeeper",
            dependencies: [
                "ChainModel",
                "DiskFormats",
                "DiskAccess",
                "ClusterAPI",
                "ClusterClient",
                "Agent",
                "ClusterTLS",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "chainkeeperd",
            dependencies: [
                "Coordinator", "ClusterStore", "AgentService", "ChainModel", "ShellHooks", "ConfigFile",
                "LibvirtClient",
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),

        // Test support: seeded agent reports of any shape, and the loop that sends them to a coordinator.
        .target(
            name: "ReportFuzzing",
            dependencies: ["DiskFormatsTesting", "ClusterTestSupport"],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "chainkeeper-fuzz",
            dependencies: [
                "DiskFormatsTesting",
                "ReportFuzzing",
                "ClusterTestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "chainkeeper-bench",
            dependencies: [
                "Agent",
                "AgentService",
                .product(name: "Crypto", package: "swift-crypto"),
                "ChainModel",
                "ClusterStore",
                "Coordinator",
                "DecisionEngine",
                "DiskFormats",
                "DiskFormatsTesting",
                "DiskAccess",
                "ClusterTestSupport",
                "ClusterAuthority",
                "ClusterEtcd",
                "ClusterAPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),

        .testTarget(
            name: "DiskFormatsTests",
            dependencies: ["DiskFormats", "DiskFormatsTesting", "ChainModel"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "DiskOracleTests",
            dependencies: ["DiskFormats", "DiskFormatsTesting", "DiskAccess", "ChainModel"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "CoordinatorTests",
            dependencies: [
                "Coordinator", "ClusterAPI", "ClusterEtcd", "ClusterStore", "ClusterTestSupport", "ChainModel",
                "ReportFuzzing", "ConfigFile", "DecisionEngine", "DiskFormatsTesting",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "AgentTests",
            dependencies: [
                "Agent", "AgentService", "ChainModel", "ClusterAPI", "DecisionEngine", "DiskAccess", "DiskFormats",
                "ShellHooks", "ClusterTestSupport", "ConfigFile",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ClusterEndToEndTests",
            dependencies: [
                "Agent", "AgentService", "ChainModel", "ClusterAPI", "ClusterTestSupport", "ClusterTLS", "DiskAccess",
                "DiskFormats",
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "AuthorityTests",
            dependencies: ["ClusterAuthority", "ClusterStore", "ClusterEtcd", "ChainModel", "ClusterTestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "EtcdTests",
            dependencies: ["ClusterEtcd", "ClusterTestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(name: "ChainModelTests", dependencies: ["ChainModel"], swiftSettings: strictSettings),
        .testTarget(
            name: "SimulatorTests",
            dependencies: ["ClusterSimulator", "DecisionEngine", "ChainModel"],
            exclude: ["Scenarios"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "DecisionEngineTests",
            dependencies: ["DecisionEngine", "ChainModel", "DiskFormatsTesting"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ClusterStoreTests",
            dependencies: [
                "ClusterStore", "ChainModel", "DecisionEngine", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: strictSettings
        ),
    ]
)
