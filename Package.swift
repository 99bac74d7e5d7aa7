// swift-tools-version: 6.1
import PackageDescription

/// One set of compiler settings for every Swift target.
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "telemetry",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "telemetry-hub", targets: ["telemetry-hub"]),
        .executable(name: "telemetry-processor", targets: ["telemetry-processor"]),
        .executable(name: "telemetry-query", targets: ["telemetry-query"]),
        .executable(name: "telemetryctl", targets: ["telemetryctl"]),
        .executable(name: "telemetry-bench", targets: ["telemetry-bench"]),
        // For the microbenchmarks under Benchmarks/ (a package of their own).
        .library(name: "TelemetryPipeline", targets: ["TelemetryCore", "TelemetryRing", "Hub"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0", traits: ["YAML", "CommandLineArguments"]),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        // YAML keys of a configuration file, to refuse the ones no component reads.
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        // SHA-256 of the lake's files (manifests) and HMAC-SHA256 of alert webhooks.
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        // Alert delivery to Alertmanager and webhooks.
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        // MQTT ingest over TLS (Docs/mqtt.md).
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // C at the edge.
        .target(name: "CTelemetryRing", cSettings: [.unsafeFlags(["-std=c11", "-O3"])]),
        // The ring's C producer/consumer baseline and thread pinning, for telemetry-bench only.
        .target(name: "CTelemetryRingBench", dependencies: ["CTelemetryRing"], cSettings: [.unsafeFlags(["-std=c11", "-O3"])]),
        .target(name: "CDeviceBus"),
        // gzip request bodies (zlib1g-dev), inflated under a size limit.
        .target(name: "CInflate", linkerSettings: [.linkedLibrary("z")]),
        .target(name: "Gzip", dependencies: ["CInflate"], swiftSettings: swiftSettings),
        // No pkg-config: hiredis.pc adds -D_FILE_OFFSET_BITS=64, which SwiftPM refuses with a warning.
        .systemLibrary(name: "CHiredis", providers: [.apt(["libhiredis-dev"])]),
        // hiredis's reader with a bound on array headers (0.14 has none).
        .target(name: "CRedisReader", dependencies: ["CHiredis"]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        // The lake's page compression (Docs/lake.md).
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CSnappy", pkgConfig: "snappy", providers: [.apt(["libsnappy-dev"])]),
        .target(name: "Compression", dependencies: ["CZstd", "CSnappy"], swiftSettings: swiftSettings),
        // A Parquet writer (Thrift compact footer, dictionary/delta/plain pages): no I/O besides its sink.
        // An MQTT 3.1.1 and 5.0 client's packets and framing (pure: fuzzed on its own), and its
        // connection on SwiftNIO.
        .target(name: "MQTTCore", swiftSettings: swiftSettings),
        .target(
            name: "MQTT",
            dependencies: [
                "MQTTCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Parquet",
            dependencies: ["Compression", .product(name: "SystemPackage", package: "swift-system")],
            swiftSettings: swiftSettings
        ),

        // Wrappers: the only places with Unsafe code for their C library.
        // The status document the daemons serve and telemetryctl reads: one type for both sides.
        .target(name: "TelemetryStatus", swiftSettings: swiftSettings),
        // POSIX files and sockets (fsync, lstat, chmod, getgrnam_r, sockaddr_un): the only Swift
        // code besides the C wrappers that calls them.
        .target(name: "SystemSupport", swiftSettings: swiftSettings),
        .target(name: "TelemetryCore", dependencies: [.product(name: "DequeModule", package: "swift-collections")], swiftSettings: swiftSettings),
        .target(
            name: "Supervision",
            dependencies: [
                "TelemetryCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TelemetryConfiguration",
            dependencies: [
                "Supervision", "Redis", "TelemetryCore",
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(name: "TelemetryRing", dependencies: ["CTelemetryRing", "TelemetryCore"], swiftSettings: swiftSettings),
        // Device buses: termios, i2c-dev and spidev wrappers, the line protocol, Modbus RTU, BME280.
        .target(name: "Buses", dependencies: ["CDeviceBus", "TelemetryCore"], swiftSettings: swiftSettings),
        .target(
            name: "Redis",
            dependencies: ["CHiredis", "CRedisReader", "TelemetryCore", .product(name: "DequeModule", package: "swift-collections")],
            swiftSettings: swiftSettings
        ),
        .target(name: "Postgres", dependencies: ["CLibPQ", "TelemetryCore"], swiftSettings: swiftSettings),
        .target(
            name: "Systemd",
            dependencies: ["CSystemd", "TelemetryCore", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),

        // Services.
        .target(
            name: "Hub",
            dependencies: [
                "TelemetryCore", "TelemetryRing", "Redis", "TelemetryConfiguration", "Supervision", "Buses", "Control", "Systemd", "Gzip", "TelemetryStatus", "SystemSupport", "MQTT", "MQTTCore",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Processor",
            dependencies: [
                "TelemetryCore", "Redis", "Postgres", "TelemetryConfiguration", "Supervision", "Control", "Systemd", "TelemetryStatus", "Parquet", "SystemSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The read side: consistency routing, replica breakers, the hot-attribute cache (issue 17).
        .target(
            name: "Query",
            dependencies: [
                "Postgres", "Redis", "TelemetryCore", "TelemetryConfiguration", "Supervision", "Control", "Systemd", "TelemetryStatus",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Control",
            dependencies: [
                "TelemetryConfiguration", "Systemd", "Supervision", "TelemetryCore", "TelemetryStatus", "SystemSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "telemetry-hub",
            dependencies: [
                "Hub", "Control",
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "telemetry-processor",
            dependencies: [
                "Processor", "Control",
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "telemetry-query",
            dependencies: ["Query", "Control"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "telemetryctl",
            dependencies: [
                "Redis", "TelemetryCore", "TelemetryStatus", "SystemSupport", "TelemetryConfiguration", "Control", "Hub", "Processor", "Query",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "telemetry-bench",
            dependencies: [
                "TelemetryRing", "CTelemetryRingBench", "TelemetryCore", "Redis", "Postgres", "Processor", "Hub", "SystemSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: swiftSettings
        ),

        .testTarget(name: "TelemetryRingTests", dependencies: ["TelemetryRing", "CTelemetryRingBench"], swiftSettings: swiftSettings),
        .testTarget(name: "TelemetryCoreTests", dependencies: ["TelemetryCore"], swiftSettings: swiftSettings),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres"], swiftSettings: swiftSettings),
        .testTarget(name: "TelemetryStatusTests", dependencies: ["TelemetryStatus"], swiftSettings: swiftSettings),
        // The decoders' fuzz probes and the replay of the seed corpus (Tests/Fuzz).
        .testTarget(name: "FuzzTests", dependencies: ["TelemetryCore", "Buses", "Gzip", "Redis", "MQTTCore"], swiftSettings: swiftSettings),
        .testTarget(name: "GzipTests", dependencies: ["Gzip"], swiftSettings: swiftSettings),
        .testTarget(name: "MQTTTests", dependencies: ["MQTTCore"], swiftSettings: swiftSettings),
        .testTarget(name: "ParquetTests", dependencies: ["Parquet", "Compression"], swiftSettings: swiftSettings),
        .testTarget(name: "RedisTests", dependencies: ["Redis", "TelemetryCore"], swiftSettings: swiftSettings),
        .testTarget(name: "SystemSupportTests", dependencies: ["SystemSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "SystemdTests", dependencies: ["Systemd", .product(name: "Logging", package: "swift-log")], swiftSettings: swiftSettings),
        .testTarget(name: "QueryTests", dependencies: ["Query"], swiftSettings: swiftSettings),
        .testTarget(name: "ControlTests", dependencies: ["Control", .product(name: "Logging", package: "swift-log")], swiftSettings: swiftSettings),
        .testTarget(
            name: "TelemetryConfigurationTests",
            dependencies: ["TelemetryConfiguration", "Redis", "Supervision", .product(name: "Configuration", package: "swift-configuration")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SupervisionTests",
            dependencies: ["Supervision", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HubTests",
            dependencies: [
                "Hub", "TelemetryCore", "Buses", "TelemetryConfiguration",
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "BusesTests", dependencies: ["Buses", "TelemetryCore"], swiftSettings: swiftSettings),
        .testTarget(
            name: "ProcessorTests",
            dependencies: ["Processor", "Redis", "TelemetryCore", "TelemetryConfiguration", .product(name: "Configuration", package: "swift-configuration")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["Redis", "Postgres", "Processor", "TelemetryCore", "Hub", "Systemd", "SystemSupport", "TelemetryConfiguration", "Control", "TelemetryStatus", "Query", "Parquet", .product(name: "Logging", package: "swift-log"),
                           .product(name: "Configuration", package: "swift-configuration")],
            swiftSettings: swiftSettings
        ),
    ]
)
