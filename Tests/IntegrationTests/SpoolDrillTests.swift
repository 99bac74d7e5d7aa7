import Foundation
import Redis
import TelemetryCore
import Testing

/// The hub's spool against a Redis that goes away, and against a damaged spool.
@Suite("Spool drills (real Redis and PostgreSQL)", .serialized)
struct SpoolDrillTests {
    @Test("redis-server restarted mid-load: the hub spools and replays; nothing lost; per-device order kept")
    func redisRestart() async throws {
        let redis = try RedisServer()
        let deployment = try Deployment()
        let db = deployment.database
        let sensors = 20, readings = 300
        let expected = sensors * readings * 3
        let port = ["REDIS_PORT": String(redis.port)]
        let processor = try Daemon("telemetry-processor", name: "redis-restart-processor", environment: deployment.processorEnvironment(extra: port))
        let hub = try Daemon("telemetry-hub", name: "redis-restart-hub",
                             environment: deployment.hubEnvironment(sensors: sensors, readings: readings, rate: 50, extra: port))
        #expect(try await eventually(timeout: .seconds(60)) { try db.scalar("SELECT count(*) FROM samples") > expected / 5 })
        await redis.stop()
        let stoppedAt = ContinuousClock.now
        try await Task.sleep(for: .seconds(3))
        let duringOutage = try db.scalar("SELECT count(*) FROM samples")
        try redis.start()
        let recovered = try await db.expectStoredOnce(expected, "hub:\n\(hub.tail)\nprocessor:\n\(processor.tail)") - stoppedAt
        // Per device and metric, rows were committed in sample order.
        #expect(try db.scalar("""
            SELECT count(*) FROM (
                SELECT ingested_at < lag(ingested_at) OVER (PARTITION BY device_id, metric_id ORDER BY ts) AS inverted FROM samples
            ) x WHERE inverted
            """) == 0)
        let hubLog = (try? String(contentsOfFile: hub.logPath, encoding: .utf8)) ?? ""
        #expect(hubLog.contains("spooling to disk") && hubLog.contains("spool replayed"), "\(hub.tail)")
        #expect(await hub.stop() == 0, "\(hub.tail)")
        #expect(await processor.stop() == 0, "\(processor.tail)")
        await redis.stop()
        print("drill redis restart: sent \(expected), stored \(expected), \(duringOutage) stored when redis came back, all stored \(recovered) after the stop")
    }

    @Test("a spool segment truncated mid-record and another with a flipped byte: detected, quarantined, good records replayed, no crash")
    func damagedSpool() async throws {
        let deployment = try Deployment()
        let db = deployment.database
        // Phase 1: Redis unreachable, so every batch is spooled to small segments.
        let unreachable = ["REDIS_PORT": String(try freePort()), "SPOOL_SEGMENT_BYTES": "4096", "SPOOL_FSYNC": "false",
                           "INGEST_BATCH_SIZE": "30"]
        let sensors = 5, readings = 40
        let total = sensors * readings * 3
        var hub = try Daemon("telemetry-hub", name: "damaged-spool-hub-1",
                             environment: deployment.hubEnvironment(sensors: sensors, readings: readings, rate: 100, extra: unreachable))
        let spooledAll = try await eventually(timeout: .seconds(30)) {
            try spoolRecords(deployment.spoolDirectory).reduce(0) { $0 + $1.samples } == total
        }
        #expect(spooledAll, "\(hub.tail)")
        #expect(await hub.stop() == 0, "\(hub.tail)")
        var segments = try spoolRecords(deployment.spoolDirectory)
        let files = Set(segments.map(\.file)).sorted()
        #expect(files.count >= 3, "expected several segments, got \(files)")
        #expect(segments.reduce(0) { $0 + $1.samples } == total)

        // Damage: flip a payload byte of the 2nd record of the first segment; cut the last segment in its 2nd record.
        let flipped = try #require(segments.filter { $0.file == files[0] }.dropFirst().first)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: flipped.file)))
        bytes[flipped.offset + 12 + 20] ^= 0x5A
        try Data(bytes).write(to: URL(fileURLWithPath: flipped.file))
        let lastRecords = segments.filter { $0.file == files.last! }
        let cut = try #require(lastRecords.dropFirst().first)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: cut.file))
        try handle.truncate(atOffset: UInt64(cut.offset + 12 + cut.length / 2))
        try handle.close()
        let lost = flipped.samples + lastRecords.dropFirst().reduce(0) { $0 + $1.samples }
        segments.removeAll()

        // Phase 2: a processor and a hub (no sensors) against the real Redis replay what is good.
        let processor = try Daemon("telemetry-processor", name: "damaged-spool-processor", environment: deployment.processorEnvironment())
        hub = try Daemon("telemetry-hub", name: "damaged-spool-hub-2",
                         environment: deployment.hubEnvironment(sensors: 1, readings: 1, rate: 1, extra: ["SIMULATED_ENABLED": "false"]))
        let replayed = try await eventually(timeout: .seconds(60)) { try db.scalar("SELECT count(*) FROM samples") >= total - lost }
        #expect(replayed, "hub:\n\(hub.tail)")
        try await Task.sleep(for: .seconds(1))
        #expect(try db.scalar("SELECT count(*) FROM samples") == total - lost)
        #expect(hub.isRunning)
        let log = (try? String(contentsOfFile: hub.logPath, encoding: .utf8)) ?? ""
        #expect(log.contains("spool damage found and quarantined") && log.contains("bad_ranges=2"), "\(hub.tail)")
        let quarantined = try FileManager.default.contentsOfDirectory(atPath: deployment.spoolDirectory + "/quarantine")
        #expect(quarantined.count == 2)
        #expect(await hub.stop() == 0)
        #expect(await processor.stop() == 0)
        print("drill damaged spool: \(total) samples spooled in \(files.count) segments, \(lost) in the 2 damaged places quarantined, \(total - lost) replayed")
    }
}

extension SpoolDrillTests {
    @Test("outage, replay, restart, outage, POST answered 202, restart before Redis returns: the acknowledged samples arrive (issue 14.1)")
    func restartSequence() async throws {
        let redis = try RedisServer()
        let deployment = try Deployment()
        let db = deployment.database
        let port = ["REDIS_PORT": String(redis.port)]
        let hubEnvironment = deployment.hubEnvironment(sensors: 1, readings: 1, rate: 1, extra: port.merging(["SIMULATED_ENABLED": "false"]) { $1 })
        let processor = try Daemon("telemetry-processor", name: "spool-seq-processor", environment: deployment.processorEnvironment(extra: port))
        let t = wallClockMicros() / 1000 - 60_000
        func post(_ hub: Daemon, _ n: Int) async throws -> Int {
            let body = (0..<10).map { "{\"device_id\":\"\(deployment.prefix)_d\(n)\",\"timestamp\":\(t + Int64($0)),\"temperature\":\(n)}" }
                .joined(separator: "\n")
            let file = "\(TestServers.logDirectory)/spool-seq-\(deployment.prefix)-\(n).ndjson"
            try body.write(toFile: file, atomically: true, encoding: .utf8)
            let (status, answer, _) = try await HTTPClients.post("http://127.0.0.1:\(try await hub.httpPort())/v1/samples", body: file)
            #expect(status == 202, "\(answer)")
            return status
        }
        // 1. An outage: the POST is spooled (202); Redis returns; the replay drains the spool.
        var hub = try Daemon("telemetry-hub", name: "spool-seq-hub-1", environment: hubEnvironment)
        _ = try await hub.httpPort()
        await redis.stop()
        _ = try await post(hub, 1)
        try redis.start()
        try await db.expectStoredOnce(10, "first outage:\n\(hub.tail)")
        #expect(await hub.stop() == 0)
        // 2. Restart (the spool directory is empty now), then a second outage and a POST (202).
        hub = try Daemon("telemetry-hub", name: "spool-seq-hub-2", environment: hubEnvironment)
        _ = try await hub.httpPort()
        await redis.stop()
        _ = try await post(hub, 2)
        #expect(await hub.stop() == 0)
        // 3. A restart before Redis is back must keep the spooled, acknowledged samples.
        hub = try Daemon("telemetry-hub", name: "spool-seq-hub-3", environment: hubEnvironment)
        _ = try await hub.httpPort()
        try redis.start()
        try await db.expectStoredOnce(20, "after the second restart:\n\(hub.tail)")
        #expect(await hub.stop() == 0)
        #expect(await processor.stop() == 0)
        await redis.stop()
    }
}

/// Walks the spool's segment files with the documented record layout (an independent reader).
func spoolRecords(_ directory: String) throws -> [(file: String, offset: Int, length: Int, samples: Int)] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    var records: [(String, Int, Int, Int)] = []
    for name in names.filter({ $0.hasSuffix(".spool") }).sorted() {
        let path = "\(directory)/\(name)"
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var offset = 0
        while offset + 12 <= bytes.count {
            let length = Int(bytes[offset + 4]) | Int(bytes[offset + 5]) << 8 | Int(bytes[offset + 6]) << 16 | Int(bytes[offset + 7]) << 24
            guard offset + 12 + length <= bytes.count else { break }
            let batch = try HubBatchCodec.decode(Array(bytes[(offset + 12)..<(offset + 12 + length)]))
            records.append((path, offset, length, batch.samples.count))
            offset += 12 + length
        }
    }
    return records
}
