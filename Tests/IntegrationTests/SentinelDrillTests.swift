import Foundation
import Postgres
import Redis
import TelemetryCore
import Testing

/// Redis under Sentinel (Docs/high-availability.md): the hub and the processor find the master
/// through the Sentinels and follow it when it fails over, with no daemon restart.
@Suite("Sentinel drills", .serialized)
struct SentinelDrillTests {
    /// What the poster reports: the timestamps of the samples answered 202, and the requests
    /// answered otherwise (or not at all).
    struct Acknowledged {
        var micros: [Int64] = []
        var refused = 0
    }

    /// One Python process (standard library only, an independent client; one process rather than
    /// a curl per request, which would cost the test runner descriptors) posts 10 samples of
    /// DEVICE per request from BASE µs on, every 20 ms, for SECONDS; prints one JSON object:
    /// `acknowledged` (timestamps answered 202) and `refused`.
    static let poster = #"""
    import http.client, json, sys, time, datetime
    port, device, base, seconds = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    def stamp(us):
        return datetime.datetime.fromtimestamp(us / 1e6, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    acknowledged, refused, nxt, end, conn = [], 0, base, time.time() + seconds, None
    while time.time() < end:
        stamps = list(range(nxt, nxt + 10)); nxt += 10
        body = "\n".join(json.dumps({"device_id": device, "timestamp": stamp(us), "temperature": 20}) for us in stamps)
        try:
            if conn is None: conn = http.client.HTTPConnection("127.0.0.1", port, timeout=35)
            conn.request("POST", "/v1/samples", body=body)
            r = conn.getresponse(); r.read()
            if r.status == 202: acknowledged += stamps
            else: refused += 1
        except Exception:
            refused += 1; conn = None
        time.sleep(0.02)
    print(json.dumps({"acknowledged": acknowledged, "refused": refused}))
    """#

    /// Waits until every hub's spool is empty (unconfirmed batches wait there for a replay, which
    /// the breaker may hold back for seconds after a failover) and `count` stayed the same for a
    /// second: the pipeline has drained.
    static func waitForDrain(_ hubs: [Daemon], count: @escaping () throws -> Int) async throws {
        // Spools empty, then the stored count unchanged for three seconds in a row (a replay that
        // just ended is still on its way to PostgreSQL).
        var last = -1
        var steady = 0
        let drained = try await eventually(timeout: .seconds(120), every: .seconds(1)) {
            var spooled = 0
            for hub in hubs {
                let (_, metrics) = try await hub.get("/metrics")
                guard let line = metrics.split(separator: "\n").first(where: { $0.hasPrefix("telemetry_hub_spool_records ") }),
                      let value = Double(line.split(separator: " ").last ?? "") else { return false }
                spooled += Int(value)
            }
            let now = try count()
            defer { last = now }
            steady = spooled == 0 && now == last ? steady + 1 : 0
            return steady >= 3
        }
        #expect(drained, "the pipeline did not drain within 120 s")
    }

    /// Runs ``poster`` for `seconds` against the hub on `port`.
    static func post(_ port: Int, device: String, base: Int64, seconds: Int) async throws -> Acknowledged {
        let script = try HTTPClients.write(poster, "sentinel-poster.py")
        let (status, output) = try await runTool("/usr/bin/python3", [script, String(port), device, String(base), String(seconds)])
        guard status == 0, let line = output.split(separator: "\n").last,
              let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw HarnessError("the poster failed: \(output)")
        }
        return Acknowledged(micros: (object["acknowledged"] as? [NSNumber] ?? []).map(\.int64Value), refused: object["refused"] as? Int ?? 0)
    }

    @Test("two kill -9 of the master in a row under HTTP and simulated load from two hubs: every daemon follows the Sentinels without a restart; with the durability gate every acknowledged sample and every reading is stored once, without it the loss is counted",
          arguments: [0, 1])
    func failoverTwice(durableReplicas: Int) async throws {
        let redis = try await onThread { try SentinelServers() }
        let deployment = try Deployment()
        // `make drill` (TELEMETRY_DRILL_LONG=1): five failovers in a row and a longer load.
        let long = ProcessInfo.processInfo.environment["TELEMETRY_DRILL_LONG"] == "1"
        let rounds = long ? 5 : 2
        let sensors = 4, readings = long ? 1000 : 400
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
        let base = wallClockMicros() - 60_000_000
        let poster = Task { try await Self.post(port, device: device, base: base, seconds: rounds * 4 + 14) }
        var failovers: [Duration] = []
        for _ in 0..<rounds {
            try await Task.sleep(for: .seconds(4))
            failovers.append(try await onThread { try redis.killMaster() })
        }
        let acknowledged = try await poster.value
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
        _ = try await eventually(timeout: .seconds(60)) { try count("SELECT count(*) FROM samples") >= 2 * sensors * readings * 3 }
        try await Self.waitForDrain([hub, second]) { try count("SELECT count(*) FROM samples") }
        let stored = Set(try db.query("SELECT (extract(epoch FROM ts) * 1000000)::int8 FROM readings WHERE device = $1", [device]).rows
            .compactMap { $0[0].flatMap { Int64($0) } })
        let acked = acknowledged.micros
        let lost = acked.filter { !stored.contains($0) }.count
        let simulated = try count("SELECT count(*) FROM readings WHERE device LIKE '\(deployment.prefix)_sim%'")  // both hubs
        print("sentinel drill (durable_replicas \(durableReplicas)): failovers \(failovers.map { "\($0)" }.joined(separator: ", ")); "
              + "HTTP acknowledged \(acked.count), stored \(stored.count), lost \(lost), refused requests \(acknowledged.refused); "
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
        let redis = try await onThread { try SentinelServers() }
        let deployment = try Deployment()
        let processor = try Daemon("telemetry-processor", name: "isolated-processor-\(durableReplicas)",
                                   environment: deployment.processorEnvironment(extra: redis.environment))
        let hub = try Daemon("telemetry-hub", name: "isolated-hub-\(durableReplicas)", environment: [
            "REDIS_KEY_PREFIX": deployment.prefix, "SPOOL_DIR": deployment.spoolDirectory, "INGEST_FLUSH_INTERVAL_MS": "5",
            "REDIS_DURABLE_REPLICAS": String(durableReplicas), "REDIS_DURABLE_TIMEOUT_MS": "300"].merging(redis.environment) { $1 })
        let port = try await hub.httpPort()
        let device = "\(deployment.prefix)_http"
        let base = wallClockMicros() - 60_000_000
        let db = try deployment.database.connect()
        func count(_ sql: String) throws -> Int { Int(try db.execute(sql).rows.first?[0] ?? "") ?? -1 }
        #expect(try await eventually(timeout: .seconds(30)) { try count("SELECT count(*) FROM schema_migrations") > 0 })
        let poster = Task { try await Self.post(port, device: device, base: base, seconds: 14) }
        try await Task.sleep(for: .seconds(2))
        // The processor lags (stopped) while the master is alone, so what only the master took is
        // not already in PostgreSQL when it goes.
        kill(processor.process.processIdentifier, SIGSTOP)
        let took = try await onThread { try redis.isolateMaster(for: .seconds(3)) }
        kill(processor.process.processIdentifier, SIGCONT)
        let acknowledged = try await poster.value
        try await Self.waitForDrain([hub]) { try count("SELECT count(*) FROM samples") }
        let stored = Set(try db.query("SELECT (extract(epoch FROM ts) * 1000000)::int8 FROM readings WHERE device = $1", [device]).rows
            .compactMap { $0[0].flatMap { Int64($0) } })
        let acked = acknowledged.micros
        let lost = acked.filter { !stored.contains($0) }.count
        print("isolated master (durable_replicas \(durableReplicas)): failover \(took); HTTP acknowledged \(acked.count), stored \(stored.count), "
              + "lost \(lost), refused requests \(acknowledged.refused)")
        #expect(acked.count > 0)
        // The drill must reproduce the loss it guards against: without the gate the writes only
        // the cut-off master took are lost; with it, WAIT did not confirm them (so they were
        // spooled and replayed), and nothing is lost.
        let unconfirmed = (try await hub.get("/metrics").1).split(separator: "\n")
            .first { $0.hasPrefix("telemetry_hub_publish_unconfirmed_total ") }.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
        if durableReplicas > 0 {
            #expect(lost == 0, "acknowledged samples lost behind the gate")
            #expect(unconfirmed > 0, "WAIT confirmed every batch: the master was not cut off from its replicas while it took writes")
        } else {
            #expect(lost > 0, "nothing lost without the gate: the master was not cut off from its replicas while it took writes")
        }
        #expect(hub.isRunning && processor.isRunning)
        #expect(await hub.stop() == 0)
        #expect(await processor.stop() == 0)
    }
}
