import Foundation
import Postgres
import Redis
import TelemetryCore
import Testing

/// End to end on real servers: simulated sensors → hub → Redis → processor → PostgreSQL.
@Suite("Pipeline (real Redis and PostgreSQL)", .serialized)
struct PipelineTests {
    @Test("S sensors × K readings give exactly S×K×3 rows, and aggregates equal a recount")
    func sensorsToRows() async throws {
        let deployment = try Deployment()
        let sensors = 12, readings = 25
        let expected = sensors * readings * 3
        let processor = try Daemon("telemetry-processor", name: "pipeline-processor", environment: deployment.processorEnvironment())
        let hub = try Daemon("telemetry-hub", name: "pipeline-hub",
                             environment: deployment.hubEnvironment(sensors: sensors, readings: readings, rate: 25, spikes: 0.05))
        let start = ContinuousClock.now
        let stored = try await eventually(timeout: .seconds(90)) { try deployment.database.scalar("SELECT count(*) FROM samples") >= expected }
        let elapsed = ContinuousClock.now - start
        #expect(stored, "samples did not reach \(expected); processor:\n\(processor.tail)\nhub:\n\(hub.tail)")
        // Let anything extra (there must be none) arrive before counting exactly.
        try await Task.sleep(for: .milliseconds(500))
        let db = deployment.database
        #expect(try db.scalar("SELECT count(*) FROM samples") == expected)
        #expect(try db.scalar("SELECT count(DISTINCT device_id) FROM samples") == sensors)
        #expect(try db.aggregateMismatches() == 0)
        #expect(try db.scalar("SELECT sum(count) FROM aggregates_1m") == expected)
        // Spikes break the 60 °C threshold: each firing is one alert on a temperature above it.
        let alerts = try db.scalar("SELECT count(*) FROM alerts WHERE rule = 'threshold_high'")
        #expect(alerts > 0)
        #expect(try db.scalar("""
            SELECT count(*) FROM alerts a JOIN metrics m ON m.id = a.metric_id
            WHERE a.rule = 'threshold_high' AND (m.name <> 'temperature' OR a.value <= 60)
            """) == 0)
        #expect(try db.scalar("SELECT count(*) FROM device_latest WHERE attrs ? 'temperature' AND attrs ? 'humidity' AND attrs ? 'pressure'") == sensors)
        #expect(await hub.stop() == 0, "hub did not exit cleanly:\n\(hub.tail)")
        #expect(await processor.stop() == 0, "processor did not exit cleanly:\n\(processor.tail)")
        #expect(try deployment.pendingEntries() == 0)
        print("pipeline: \(expected) samples stored in \(elapsed) (\(Int(Double(expected) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))) samples/s incl. start-up)")
    }

    @Test("SIGTERM mid-load leaves nothing pending; a restarted processor resumes and completes")
    func gracefulStopAndResume() async throws {
        let deployment = try Deployment()
        let sensors = 20, readings = 150
        let expected = sensors * readings * 3
        var processor = try Daemon("telemetry-processor", name: "resume-processor-1", environment: deployment.processorEnvironment())
        let hub = try Daemon("telemetry-hub", name: "resume-hub", environment: deployment.hubEnvironment(sensors: sensors, readings: readings, rate: 50))
        let db = deployment.database
        #expect(try await eventually(timeout: .seconds(60)) { try db.scalar("SELECT count(*) FROM samples") > expected / 10 },
                "no progress:\n\(processor.tail)")
        #expect(await processor.stop() == 0, "processor did not exit cleanly:\n\(processor.tail)")
        #expect(try deployment.pendingEntries() == 0)
        let atStop = try db.scalar("SELECT count(*) FROM samples")
        processor = try Daemon("telemetry-processor", name: "resume-processor-2", environment: deployment.processorEnvironment())
        try await db.expectStoredOnce(expected, "stopped at \(atStop); processor:\n\(processor.tail)\nhub:\n\(hub.tail)")
        #expect(await hub.stop() == 0)
        #expect(await processor.stop() == 0)
        #expect(try deployment.pendingEntries() == 0)
        print("resume: stopped at \(atStop) of \(expected) samples, completed after restart")
    }

    @Test("rolling upgrade: batches an older hub wrote in the previous format (v1) are stored like current ones")
    func previousBatchVersion() async throws {
        let deployment = try Deployment()
        let redis = try TestServers.redis()
        let now = wallClockMicros() - 10_000_000
        var commands: [RedisCommand] = []
        for version in [UInt8(1), 2] {
            let device = "\(deployment.prefix)_v\(version)"
            let batch = HubBatch(id: "old-hub-\(version)", shard: ShardRouter(shards: 8).shard(of: device), createdMicros: now,
                                 devices: [device], metrics: ["temperature", "humidity"],
                                 samples: (0..<10).map { Sample(deviceIndex: 0, metricIndex: UInt16($0 % 2), timestampMicros: now + Int64($0), value: 20 + Double($0)) })
            var command = RedisCommand(["XADD", "\(deployment.prefix):stream:\(batch.shard)", "*", "v", String(version), "id", batch.id])
            command.append("d")
            command.append(bytes: HubBatchCodec.encode(batch, version: version))
            commands.append(command)
        }
        _ = try redis.pipeline(commands)
        let processor = try Daemon("telemetry-processor", name: "batch-versions-processor", environment: deployment.processorEnvironment())
        let db = deployment.database
        #expect(try await eventually(timeout: .seconds(30)) { try db.scalar("SELECT count(*) FROM samples") == 20 }, "\(processor.tail)")
        #expect(try db.scalar("SELECT count(DISTINCT device_id) FROM samples") == 2)
        #expect(try deployment.deadLetters().isEmpty)
        #expect(await processor.stop() == 0)
    }

    @Test("a batch id travels with its batch: the same BATCH_ID appears in the hub's and the processor's logs")
    func batchIDInBothLogs() async throws {
        let deployment = try Deployment()
        let processor = try Daemon("telemetry-processor", name: "trace-processor", environment: deployment.processorEnvironment(extra: ["LOG_LEVEL": "debug"]))
        let hub = try Daemon("telemetry-hub", name: "trace-hub",
                             environment: deployment.hubEnvironment(sensors: 2, readings: 3, rate: 10, extra: ["LOG_LEVEL": "debug"]))
        #expect(try await eventually(timeout: .seconds(30)) { try deployment.database.scalar("SELECT count(*) FROM samples") == 18 })
        #expect(await hub.stop() == 0)
        #expect(await processor.stop() == 0)
        let hubLog = (try? String(contentsOfFile: hub.logPath, encoding: .utf8)) ?? ""
        let processorLog = (try? String(contentsOfFile: processor.logPath, encoding: .utf8)) ?? ""
        let published = hubLog.split(separator: "\n").filter { $0.contains("batch published") }
        #expect(!published.isEmpty)
        for line in published {
            let id = try #require(line.split(separator: " ").first { $0.hasPrefix("batch_id=") })
            #expect(processorLog.split(separator: "\n").contains { $0.contains("processing") && $0.contains(id) }, "\(id) not in the processor log")
        }
    }
}
