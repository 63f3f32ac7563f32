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
    ],
    targets: [
        // Pure core: no file system, network or clock. FoundationEssentials at most (CI checks it).
        .target(name: "ChainModel", swiftSettings: strictSettings),
        .target(name: "DecisionEngine", dependencies: ["ChainModel"], swiftSettings: strictSettings),
        .target(name: "DiskFormats", dependencies: ["ChainModel"], swiftSettings: strictSettings),
        // Test support (pure): sample images, mutations and a seeded generator, shared by the tests,
        // the fuzzer and the benchmarks. Never a dependency of the product executables.
        .target(name: "DiskFormatsTesting", dependencies: ["DiskFormats"], swiftSettings: strictSettings),

        // I/O shells.
        .target(name: "DiskAccess", dependencies: ["DiskFormats", "ChainModel"], swiftSettings: strictSettings),
        .target(
            name: "ClusterStore",
            dependencies: ["ChainModel", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "chainkeeper",
            dependencies: [
                "ChainModel",
                "DiskFormats",
                "DiskAccess",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "chainkeeperd",
            dependencies: [.product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strictSettings
        ),

        .executableTarget(
            name: "chainkeeper-fuzz",
            dependencies: [
                "DiskFormatsTesting",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "chainkeeper-bench",
            dependencies: [
                "ChainModel",
                "DiskFormats",
                "DiskFormatsTesting",
                "DiskAccess",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
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
        .testTarget(name: "ChainModelTests", dependencies: ["ChainModel"], swiftSettings: strictSettings),
        .testTarget(
            name: "DecisionEngineTests",
            dependencies: ["DecisionEngine", "ChainModel"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ClusterStoreTests",
            dependencies: [
                "ClusterStore", "ChainModel", "DecisionEngine", .product(name: "GRDB", package: "GRDB.swift"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: strictSettings
        ),
    ]
)
