// swift-tools-version: 6.1
// Microbenchmarks of the hub's hot paths with ordo-one/benchmark (package-benchmark), counting
// allocations with its malloc interposer. A package of its own so that `make test` never builds
// it: run `make microbench` (or `swift package --package-path Benchmarks benchmark`).
import PackageDescription

let package = Package(
    name: "telemetry-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "telemetry", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "PipelineBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "TelemetryPipeline", package: "telemetry"),
            ],
            path: "Benchmarks/PipelineBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
