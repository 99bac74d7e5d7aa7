import Foundation
import Postgres
import Redis
import Synchronization
import TelemetryCore
import Testing

/// Redis under Sentinel (Docs/high-availability.md): the hub and the processor find the master
/// through the Sentinels and follow it when it fails over, with no daemon restart.
@Suite("Sentinel drills", .serialized)
struct SentinelDrillTests {
    /// Acknowledged HTTP samples by timestamp, filled by the poster.
    final class Acknowledged: Sendable {
        let micros = Mutex<[Int64]>([])
        let refused = Atomic<Int>(0)
    }

    /// Posts 10 samples of `device` per request until `until`; records those answered 202.
    static func post(_ port: Int, device: String, base: Int64, until: ContinuousClock.Instant, into acknowledged: Acknowledged) async {
        var next = base
        while ContinuousClock.now < until {
            let stamps = (0..<10).map { next + Int64($0) }
            next += 10
            let body = stamps.map { "{\"device_id\":\"\(device)\",\"timestamp\":\"\(Timestamp.formatRFC3339(micros: $0))\",\"temperature\":20}" }
                .joined(separator: "\n")
            let answer = try? await runTool("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "35", "--data-binary", body,
                                                               "http://127.0.0.1:\(port)/v1/samples"])
            if answer?.1 == "202" {
                acknowledged.micros.withLock { $0 += stamps }
            } else {
                acknowledged.refused.add(1, ordering: .relaxed)
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    @Test("two kill -9 of the master in a row under HTTP and simulated load from two hubs: every daemon follows the Sentinels without a restart; with the durability gate every acknowledged sample and every reading is stored once, without it the loss is counted",
          arguments: [0, 1])
    func failoverTwice(durableReplicas: Int) async throws {
        let redis = try SentinelServers()
        let deployment = try Deployment()
        let sensors = 4, readings = 400
        let processor = try Daemon("telemetry-processor", name: "sentinel-processor-\(durableReplicas)",
                                   environment: deployment.processorEnvironment(extra: redis.environment))
        let hub = try Daemon("telemetry-hub", name: "sentinel-hub-\(durableReplicas)",
                             environment: deployment.hubEnvironment(sensors: sensors, readings: readings, rate: 20,
                                                                    extra: redis.environment.merging(["REDIS_DURABLE_REPLICAS": String(durableReplicas)]) { $1 }))
        // A second hub (its own id, devices and spool) feeding the same streams.
        let second = try Daemon("telemetry-hub", name: "sentinel-hub-b-\(durableReplicas)",
                                environment: deployment.hubEnvironment(sensors: sensors, readings: readings, rate: 20, extra: redis.environment.merging([
                                    "REDIS_DURABLE_REPLICAS": String(durableReplicas), "SIMULATED_DEVICE_PREFIX": "\(deployment.prefix)_simb",
                                    "SPOOL_DIR": deployment.spoolDirectory + "-b"]) { $1 }))
        let port = try await hub.httpPort()
        let device = "\(deployment.prefix)_http"
        let acknowledged = Acknowledged()
        let base = wallClockMicros() - 60_000_000
        let loadEnds = ContinuousClock.now + .seconds(22)
        let poster = Task { await Self.post(port, device: device, base: base, until: loadEnds, into: acknowledged) }
        var failovers: [Duration] = []
        for _ in 0..<2 {
            try await Task.sleep(for: .seconds(4))
            failovers.append(try redis.killMaster())
        }
        await poster.value
        // After the second failover, one more request must be stored: the pipeline follows the new master.
        let (status, _, text) = try await QueryServiceTests.request(port, "/v1/samples", body:
            "{\"device_id\":\"\(device)_after\",\"timestamp\":\"\(Timestamp.formatRFC3339(micros: base))\",\"temperature\":21}")
        #expect(status == 202, "\(text)\n\(hub.tail)")
        let db = try deployment.database.connect()
        func count(_ sql: String) throws -> Int { Int(try db.execute(sql).rows.first?[0] ?? "") ?? -1 }
        #expect(try await eventually(timeout: .seconds(60)) {
            try count("SELECT count(*) FROM readings WHERE device = '\(device)_after'") == 1
        }, "\(processor.tail)")
        // Let the simulated readings finish and the pipeline drain.
        var last = -1
        _ = try await eventually(timeout: .seconds(60)) {
            let now = try count("SELECT count(*) FROM samples")
            defer { last = now }
            return now == last && now >= 2 * sensors * readings * 3
        }
        let stored = Set(try db.query("SELECT (extract(epoch FROM ts) * 1000000)::int8 FROM readings WHERE device = $1", [device]).rows
            .compactMap { $0[0].flatMap { Int64($0) } })
        let acked = acknowledged.micros.withLock { $0 }
        let lost = acked.filter { !stored.contains($0) }.count
        let simulated = try count("SELECT count(*) FROM readings WHERE device LIKE '\(deployment.prefix)_sim%'")  // both hubs
        print("sentinel drill (durable_replicas \(durableReplicas)): failovers \(failovers.map { "\($0)" }.joined(separator: ", ")); "
              + "HTTP acknowledged \(acked.count), stored \(stored.count), lost \(lost), refused requests \(acknowledged.refused.load(ordering: .relaxed)); "
              + "simulated (two hubs) expected \(2 * sensors * readings * 3), stored \(simulated)")
        #expect(acked.count > 0 && stored.count > 0)
        #expect(try count("SELECT count(*) - count(DISTINCT (device_id, metric_id, ts)) FROM samples") == 0)
        #expect(simulated <= 2 * sensors * readings * 3)
        if durableReplicas > 0 {
            #expect(lost == 0, "acknowledged samples lost behind the gate")
            #expect(simulated == 2 * sensors * readings * 3, "device readings lost behind the gate")
        }
        // Neither daemon restarted: both still run and stop cleanly.
        #expect(hub.isRunning && second.isRunning && processor.isRunning)
        #expect(await hub.stop() == 0)
        #expect(await second.stop() == 0)
        #expect(await processor.stop() == 0)
    }

    @Test("a master cut off from its replicas keeps taking writes, then the Sentinels promote a replica: with the gate no acknowledged sample is lost, without it the loss is counted",
          arguments: [0, 1])
    func isolatedMaster(durableReplicas: Int) async throws {
        let redis = try SentinelServers()
        let deployment = try Deployment()
        let processor = try Daemon("telemetry-processor", name: "isolated-processor-\(durableReplicas)",
                                   environment: deployment.processorEnvironment(extra: redis.environment))
        let hub = try Daemon("telemetry-hub", name: "isolated-hub-\(durableReplicas)", environment: [
            "REDIS_KEY_PREFIX": deployment.prefix, "SPOOL_DIR": deployment.spoolDirectory, "INGEST_FLUSH_INTERVAL_MS": "5",
            "REDIS_DURABLE_REPLICAS": String(durableReplicas), "REDIS_DURABLE_TIMEOUT_MS": "300"].merging(redis.environment) { $1 })
        let port = try await hub.httpPort()
        let device = "\(deployment.prefix)_http"
        let acknowledged = Acknowledged()
        let base = wallClockMicros() - 60_000_000
        let db = try deployment.database.connect()
        func count(_ sql: String) throws -> Int { Int(try db.execute(sql).rows.first?[0] ?? "") ?? -1 }
        #expect(try await eventually(timeout: .seconds(30)) { try count("SELECT count(*) FROM schema_migrations") > 0 })
        let loadEnds = ContinuousClock.now + .seconds(14)
        let poster = Task { await Self.post(port, device: device, base: base, until: loadEnds, into: acknowledged) }
        try await Task.sleep(for: .seconds(2))
        // The processor lags (stopped) while the master is alone, so what only the master took is
        // not already in PostgreSQL when it goes.
        kill(processor.process.processIdentifier, SIGSTOP)
        let took = try await redis.isolateMaster(for: .seconds(3))
        kill(processor.process.processIdentifier, SIGCONT)
        await poster.value
        var last = -1
        _ = try await eventually(timeout: .seconds(60)) {
            let now = try count("SELECT count(*) FROM samples")
            defer { last = now }
            return now == last && now > 0
        }
        let stored = Set(try db.query("SELECT (extract(epoch FROM ts) * 1000000)::int8 FROM readings WHERE device = $1", [device]).rows
            .compactMap { $0[0].flatMap { Int64($0) } })
        let acked = acknowledged.micros.withLock { $0 }
        let lost = acked.filter { !stored.contains($0) }.count
        print("isolated master (durable_replicas \(durableReplicas)): failover \(took); HTTP acknowledged \(acked.count), stored \(stored.count), "
              + "lost \(lost), refused requests \(acknowledged.refused.load(ordering: .relaxed))")
        #expect(acked.count > 0)
        if durableReplicas > 0 { #expect(lost == 0, "acknowledged samples lost behind the gate") }
        #expect(hub.isRunning && processor.isRunning)
        #expect(await hub.stop() == 0)
        #expect(await processor.stop() == 0)
    }
}
