// swift-tools-version: 6.2
import PackageDescription

/// Our own targets build with every warning treated as an error.
let strict: [SwiftSetting] = [.treatAllWarnings(as: .error)]

let package = Package(
    name: "Berth",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "berth", targets: ["berth"]),
        .executable(name: "berth-sim", targets: ["berth-sim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // The node's HTTP status API. Its default traits would add swift-configuration and
        // full Foundation, neither of which the API uses.
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1", traits: []),
        // Stops the HTTP server gracefully when the node shuts down.
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // TLS: amqps for clients.
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        // The Prometheus endpoint: swift-metrics' handlers in Prometheus' text format.
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // The system's liblz4 (Debian: liblz4-dev).
        .systemLibrary(
            name: "CLZ4",
            pkgConfig: "liblz4",
            providers: [.apt(["liblz4-dev"])]
        ),
        // The one file-system call the Swift view of glibc lacks: punching holes.
        .target(name: "CFileSystem"),
        // And the one allocator call: giving free memory back after a large transient use.
        .target(name: "CMalloc"),
        // The CPU's CRC-32C instruction, where it has one, detected at run time.
        .target(name: "CCRC32C"),
        // CRC-32C, the checksum of everything Berth writes to disk; pure.
        .target(name: "Checksum", dependencies: ["CCRC32C"], swiftSettings: strict),
        // LZ4 frame format: compress and decompress with the content checksum on.
        .target(name: "LZ4", dependencies: ["CLZ4"], swiftSettings: strict),
        // Consensus as a pure state machine: no I/O, no clock, no threads.
        .target(name: "Raft", swiftSettings: strict),
        .target(name: "Gossip", swiftSettings: strict),
        // AMQP 0-9-1 codec, pure: frames, methods, field tables, properties, reply codes.
        // ByteBuffer (NIOCore) only, so message bodies stay slices of what the socket read.
        .target(name: "AMQP", dependencies: [.product(name: "NIOCore", package: "swift-nio")], swiftSettings: strict),
        // The broker as a pure replicated state machine: vhosts, exchanges, queues, bindings,
        // messages; plus the leader-local dispatcher. No I/O, no clock, no dependencies.
        .target(name: "Broker", dependencies: ["Checksum"], swiftSettings: strict),
        .target(name: "Client", dependencies: ["AMQP", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio")], swiftSettings: strict),
        // What nodes send each other: versioned, length-prefixed frames in byte buffers; pure.
        // How a node's log lines look: swift-log's text, or JSON lines.
        .target(name: "LogLines", dependencies: [.product(name: "Logging", package: "swift-log")], swiftSettings: strict),
        .target(name: "PeerWire", dependencies: ["Raft", .product(name: "NIOCore", package: "swift-nio")], swiftSettings: strict),
        // Who may: broker users and their password hashes, SASL responses, and the seal of
        // gossip datagrams; pure.
        .target(name: "Auth", dependencies: ["Broker", .product(name: "Crypto", package: "swift-crypto")], swiftSettings: strict),
        // The node's HTTP status API as its clients see it: the JSON bodies and a small client
        // (the berth command, the chaos harness, the tests).
        .target(
            name: "StatusAPI",
            dependencies: [
                "Raft", "Auth",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // TLS settings as RabbitMQ's ssl_options give them, made into NIOSSL contexts, and the
        // peer links' TLS keyed by the cluster secret.
        .target(
            name: "TLS",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict),
        // Durable storage: segmented write-ahead log, hard state, LZ4 snapshots.
        .target(name: "Log", dependencies: ["Raft", "LZ4", "Checksum", "CFileSystem"], swiftSettings: strict),
        // The node's shell: drives the Raft core over durable storage.
        .target(
            name: "Node",
            dependencies: [
                "Raft", "Log", "AMQP", "Broker", "PeerWire", "Gossip", "CMalloc", "Auth", "StatusAPI", "TLS",
                // The management API takes messages through an AMQP connection to the node itself.
                "Client",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            // The dashboard's page, compiled into the binary as bytes (no bundle to ship or find).
            resources: [.embedInCode("Dashboard/dashboard.html")],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "berth",
            dependencies: [
                "Node", "Log", "Raft", "Client", "AMQP", "Auth", "StatusAPI", "TLS", "LogLines",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Writes through a durable one-node group and reports each acknowledged entry; the
        // crash-loop test kills it at random moments.
        .executableTarget(name: "log-crash-writer", dependencies: ["LogCrashSupport", "Broker", "Node", "Log", "Raft"], swiftSettings: strict),
        .target(name: "LogCrashSupport", dependencies: ["Broker", "Node", "Log", "Raft"], swiftSettings: strict),
        // Seeded deterministic simulation of whole Raft clusters, with its checkers.
        .target(
            name: "RaftSimulation",
            dependencies: ["Raft", "Log", "PeerWire", .product(name: "HeapModule", package: "swift-collections")],
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
        // The chaos harness: real nodes in network namespaces, faults drawn from a seed, a
        // workload through the client, and a checker of the recorded history (Chaos/run).
        .executableTarget(
            name: "berth-chaos",
            dependencies: [
                "Client", "Node", "AMQP", "StatusAPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Chaos/Sources",
            swiftSettings: strict
        ),
        .testTarget(name: "LZ4Tests", dependencies: ["LZ4"], swiftSettings: strict),
        .testTarget(
            name: "AMQPTests",
            dependencies: [
                "AMQP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "BrokerTests", dependencies: ["Broker"], swiftSettings: strict),
        .testTarget(name: "ClientTests", dependencies: ["Client", "AMQP", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio")], swiftSettings: strict),
        .testTarget(name: "RaftTests", dependencies: ["Raft"], swiftSettings: strict),
        .testTarget(name: "PeerWireTests", dependencies: ["PeerWire", "Raft"], swiftSettings: strict),
        .testTarget(name: "GossipTests", dependencies: ["Gossip"], swiftSettings: strict),
        .testTarget(name: "AuthTests", dependencies: ["Auth"], swiftSettings: strict),
        .testTarget(name: "LogLinesTests", dependencies: ["LogLines", .product(name: "Logging", package: "swift-log")], swiftSettings: strict),
        .testTarget(name: "LogTests", dependencies: ["Log", "Raft", "LZ4", "Checksum"], swiftSettings: strict),
        .testTarget(
            name: "NodeTests",
            dependencies: [
                "Node", "Log", "Raft", "LogCrashSupport", "Client", "AMQP", "Gossip", "PeerWire", "Auth", "StatusAPI", "TLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "RaftSimulationTests", dependencies: ["RaftSimulation", "Raft"], swiftSettings: strict),
        // The berth command's own parsing: its configuration file and flags; no node is started.
        .testTarget(
            name: "BerthTests",
            dependencies: ["berth", .product(name: "ArgumentParser", package: "swift-argument-parser"), .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // The chaos checker and report, from hand-made histories; no nodes, no network.
        .testTarget(
            name: "ChaosTests",
            dependencies: [
                "berth-chaos", "Log", "Raft",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
    ]
)
