// swift-tools-version: 6.2
import PackageDescription

/// Our own targets build with every warning treated as an error.
let strict: [SwiftSetting] = [.treatAllWarnings(as: .error)]

let package = Package(
    name: "Berth",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "berth-sim", targets: ["berth-sim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
    ],
    targets: [
        // The system's liblz4 (Debian: liblz4-dev).
        .systemLibrary(
            name: "CLZ4",
            pkgConfig: "liblz4",
            providers: [.apt(["liblz4-dev"])]
        ),
        // LZ4 frame format: compress and decompress with the content checksum on.
        .target(name: "LZ4", dependencies: ["CLZ4"], swiftSettings: strict),
        // Consensus as a pure state machine: no I/O, no clock, no threads.
        .target(name: "Raft", swiftSettings: strict),
        // Durable storage: segmented write-ahead log, hard state, LZ4 snapshots.
        .target(name: "Log", dependencies: ["Raft", "LZ4"], swiftSettings: strict),
        // Seeded deterministic simulation of whole Raft clusters, with its checkers.
        .target(
            name: "RaftSimulation",
            dependencies: ["Raft", "Log", .product(name: "HeapModule", package: "swift-collections")],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "berth-sim",
            dependencies: [
                "RaftSimulation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "LZ4Tests", dependencies: ["LZ4"], swiftSettings: strict),
        .testTarget(name: "RaftTests", dependencies: ["Raft"], swiftSettings: strict),
        .testTarget(name: "RaftSimulationTests", dependencies: ["RaftSimulation", "Raft"], swiftSettings: strict),
    ]
)
