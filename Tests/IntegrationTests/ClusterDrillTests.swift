import Foundation
import Postgres
import Redis
import TelemetryCore
import Testing

/// Redis Cluster (Docs/high-availability.md): the hub and the processor spread their shards over
/// the cluster's masters by hash tag, and follow slots that move and masters that fail over.
@Suite("Redis Cluster drills", .serialized)
struct ClusterDrillTests {
    @Test("load over three masters; a shard's slot resharded to another master and a replica failover mid-load: every acknowledged sample and every reading stored once, no daemon restart; telemetryctl queues and dlq replay work through the cluster")
    func reshardAndFailover() async throws {
        let cluster = try await onThread { try ClusterServers() }
        let deployment = try Deployment()
        let keys = RedisKeys(prefix: deployment.prefix, hashTags: true)
        // `make drill` (TELEMETRY_DRILL_LONG=1): a longer load, the durability gate on, and after
        // the planned failover a master killed with kill -9 (its replica promoted on its own).
        let long = ProcessInfo.processInfo.environment["TELEMETRY_DRILL_LONG"] == "1"
        let sensors = 6, readings = long ? 1000 : 400
        let gate: [String: String] = long ? ["REDIS_DURABLE_REPLICAS": "1", "REDIS_DURABLE_TIMEOUT_MS": "500"] : [:]
        let expected = sensors * readings * 3
        let processor = try Daemon("telemetry-processor", name: "cluster-processor",
                                   environment: deployment.processorEnvironment(extra: cluster.environment))
        let hub = try Daemon("telemetry-hub", name: "cluster-hub",
                             environment: deployment.hubEnvironment(sensors: sensors, readings: readings, rate: 20, extra: cluster.environment.merging(gate) { $1 }))
        let port = try await hub.httpPort()
        let device = "\(deployment.prefix)_http"
        let base = wallClockMicros() - 60_000_000
        let db = try deployment.database.connect()
        func count(_ sql: String) throws -> Int { Int(try db.execute(sql).rows.first?[0] ?? "") ?? -1 }
        #expect(try await eventually(timeout: .seconds(60)) { try count("SELECT count(*) FROM samples") > 300 }, "\(processor.tail)\n\(hub.tail)")
        let poster = Task { try await SentinelDrillTests.post(port, device: device, base: base, seconds: long ? 36 : 16) }
        try await Task.sleep(for: .seconds(3))
        // Shard 0's slot (and the slots below it on its master) moves, keys and all, to the first master.
        let slot0 = ClusterProtocol.slot(of: keys.stream(0))
        let resharded = try await onThread { try cluster.reshard(through: slot0, to: 0) }
        try await Task.sleep(for: .seconds(2))
        // Shard 3's master hands over to its replica.
        let slot3 = ClusterProtocol.slot(of: keys.stream(3))
        let failedOver = try await onThread { try cluster.failover(of: slot3) }
        var killed = ""
        if long {
            try await Task.sleep(for: .seconds(3))
            let slot5 = ClusterProtocol.slot(of: keys.stream(5))
            killed = ", kill -9 of shard 5's master: replica serving after \(try await onThread { try cluster.killMaster(of: slot5) })"
        }
        let acknowledged = try await poster.value

        _ = try await eventually(timeout: .seconds(90)) { try count("SELECT count(*) FROM readings WHERE device LIKE '\(deployment.prefix)_sim%'") >= expected }
        try await SentinelDrillTests.waitForDrain([hub]) { try count("SELECT count(*) FROM samples") }
        let stored = Set(try db.query("SELECT (extract(epoch FROM ts) * 1000000)::int8 FROM readings WHERE device = $1", [device]).rows
            .compactMap { $0[0].flatMap { Int64($0) } })
        let lost = acknowledged.micros.filter { !stored.contains($0) }.count
        let simulated = try count("SELECT count(*) FROM readings WHERE device LIKE '\(deployment.prefix)_sim%'")
        // Where the shards' streams are now, and what is still pending.
        let (spread, pending) = try await onThread { () throws -> ([Int: Int], Int) in
            let redis = try RedisConnection(endpoint: cluster.endpoint)
            var spread: [Int: Int] = [:]
            var pending = 0
            for shard in 0..<8 {
                let key = keys.stream(shard)
                guard (try redis.send(["XLEN", key]).int ?? 0) > 0, let master = cluster.master(of: ClusterProtocol.slot(of: key)) else { continue }
                spread[master.port, default: 0] += 1
                pending += try redis.send(["XPENDING", key, "processors"]).array?.first?.int ?? 0
            }
            return (spread, pending)
        }
        print("cluster drill: reshard of shard 0's slot \(slot0) took \(resharded), failover of shard 3's master \(failedOver)\(killed); "
              + "streams per master \(spread.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")); "
              + "HTTP acknowledged \(acknowledged.micros.count), stored \(stored.count), lost \(lost), refused requests \(acknowledged.refused); "
              + "simulated expected \(expected), stored \(simulated)")
        #expect(spread.count == 3, "the shards' streams are not spread over the three masters")
        #expect(acknowledged.micros.count > 0)
        #expect(lost == 0, "acknowledged samples lost")
        #expect(stored.count == acknowledged.micros.count)
        #expect(simulated == expected, "device readings lost or doubled")
        #expect(try count("SELECT count(*) - count(DISTINCT (device_id, metric_id, ts)) FROM samples") == 0)
        #expect(try deployment.database.aggregateMismatches() == 0)
        #expect(pending == 0)

        // telemetryctl through the cluster: the queues over every shard's slot, and a dead letter
        // replayed (its transaction on the task list's slot).
        func deadLetterIDs() async throws -> [String] {
            try await onThread { () throws -> [String] in
                (try RedisConnection(endpoint: cluster.endpoint).send(["XRANGE", keys.deadLetters, "-", "+"]).array ?? []).compactMap { $0.array?.first?.string }
            }
        }
        _ = try await onThread { try RedisConnection(endpoint: cluster.endpoint).send(["RPUSH", keys.tasks, "{broken"]) }
        #expect(try await eventually(timeout: .seconds(30)) { try await deadLetterIDs().count == 1 }, "\(processor.tail)")
        let first = try await deadLetterIDs()
        let (queuesStatus, queues) = try await runTool("telemetryctl", ["queues", "--key-prefix", deployment.prefix], environment: cluster.environment)
        #expect(queuesStatus == 0, "\(queues)")
        let (_, replay) = try await runTool("telemetryctl", ["dlq", "replay", "--all", "--key-prefix", deployment.prefix], environment: cluster.environment)
        #expect(replay.contains("replayed 1"), "\(replay)")
        #expect(try await eventually(timeout: .seconds(30)) {
            let now = try await deadLetterIDs()
            return now.count == 1 && now != first
        }, "the replayed task did not come back as a new dead letter")
        #expect(hub.isRunning && processor.isRunning)
        #expect(await hub.stop() == 0)
        #expect(await processor.stop() == 0)
    }
}
