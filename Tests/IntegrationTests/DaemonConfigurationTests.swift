import Foundation
import Testing

/// Start-up configuration of the real daemons: precedence and refusal of invalid values.
@Suite("Daemon configuration")
struct DaemonConfigurationTests {
    func run(_ executable: String, environment: [String: String], arguments: [String] = []) async throws -> (Int32?, String) {
        let daemon = try Daemon(executable, name: "config-\(executable)-\(UUID().uuidString.prefix(6))", environment: environment, arguments: arguments)
        let deadline = ContinuousClock.now + .seconds(20)
        while daemon.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        let status = daemon.isRunning ? nil : daemon.process.terminationStatus
        if daemon.isRunning { await daemon.stop() }
        return (status, (try? String(contentsOfFile: daemon.logPath, encoding: .utf8)) ?? "")
    }

    @Test("an invalid value stops start-up with exit status 2 and a message naming the key", arguments: [
        ("telemetry-hub", "INGEST_FULL_POLICY", "sometimes", "ingest.full_policy"),
        ("telemetry-hub", "SIMULATED_SENSORS", "lots", "simulated.sensors"),
        ("telemetry-processor", "NUM_WORKERS", "0", "num_workers"),
        ("telemetry-processor", "REDIS_PORT", "http", "redis.port"),
        // A batch names its devices and metrics in u16-counted tables: more samples could trap the encoder.
        ("telemetry-hub", "INGEST_BATCH_SIZE", "65536", "ingest.batch_size"),
        ("telemetry-processor", "VALIDATION_MAX_FIELDS", "70000", "validation.max_fields"),
    ])
    func invalidValue(executable: String, name: String, value: String, key: String) async throws {
        let (status, output) = try await run(executable, environment: [name: value])
        #expect(status == 2, "output: \(output)")
        #expect(output.contains("'\(key)'"), "output: \(output)")
    }

    @Test("flags beat the environment, which beats the file given with --config")
    func precedence() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("hub-\(UUID().uuidString).yaml")
        try "ingest:\n  full_policy: sometimes\n  batch_size: 0\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        // The file's bad full_policy is overridden by the environment; its bad batch_size is not.
        let (status, output) = try await run("telemetry-hub", environment: ["INGEST_FULL_POLICY": "block"], arguments: ["--config", file.path])
        #expect(status == 2)
        #expect(output.contains("'ingest.batch_size'") && !output.contains("full_policy"), "output: \(output)")
        // A flag overrides both.
        let (flagStatus, flagOutput) = try await run("telemetry-hub", environment: ["INGEST_BATCH_SIZE": "-1"],
                                                     arguments: ["--config", file.path, "--ingest-batch_size", "10", "--ingest-full_policy", "maybe"])
        #expect(flagStatus == 2)
        #expect(flagOutput.contains("'ingest.full_policy'") && flagOutput.contains("maybe"), "output: \(flagOutput)")
        // A missing file named explicitly is an error too.
        let (missingStatus, missingOutput) = try await run("telemetry-hub", environment: [:], arguments: ["--config", "/nonexistent/hub.yaml"])
        #expect(missingStatus == 2)
        #expect(missingOutput.contains("/nonexistent/hub.yaml"))
    }
}

@Suite("Redis durability check")
struct RedisDurabilityCheckTests {
    @Test("both daemons report a Redis without AOF and noeviction in their log and metrics, and keep working")
    func misconfiguredRedis() async throws {
        let redis = try RedisServer(durable: false)
        let deployment = try Deployment()
        let port = ["REDIS_PORT": String(redis.port)]
        let processor = try Daemon("telemetry-processor", name: "durability-processor", environment: deployment.processorEnvironment(extra: port))
        let hub = try Daemon("telemetry-hub", name: "durability-hub", environment: deployment.hubEnvironment(sensors: 2, readings: 5, rate: 10, extra: port))
        #expect(try await eventually(timeout: .seconds(30)) { try deployment.database.scalar("SELECT count(*) FROM samples") == 30 })
        for (daemon, name) in [(hub, "hub"), (processor, "processor")] {
            let (_, metrics) = try await daemon.get("/metrics")
            #expect(metrics.contains("telemetry_\(name)_redis_misconfigured 1"), "\(name) metrics")
            let log = (try? String(contentsOfFile: daemon.logPath, encoding: .utf8)) ?? ""
            #expect(log.contains("appendonly is no") && log.contains("maxmemory-policy is allkeys-lru"), "\(name) log")
        }
        #expect(await hub.stop() == 0)
        #expect(await processor.stop() == 0)
        await redis.stop()
    }
}
