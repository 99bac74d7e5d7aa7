import Foundation
import Postgres
import Redis
import TelemetryCore
import Testing

/// Tenants end to end (Docs/tenants.md): ingest tokens name the tenant of what a hub accepts, query
/// tokens the tenant a read sees, and the database's row-level security keeps the query daemon's
/// role to that tenant's rows, also for SQL the daemon never sends.
@Suite("Tenants", .serialized)
struct TenantTests {
    static let ingestA = "ingest-token-of-tenant-a"
    static let ingestB = "ingest-token-of-tenant-b"
    static let queryA = "query-token-of-tenant-a-0"
    static let queryB = "query-token-of-tenant-b-0"

    static func request(_ port: Int, _ path: String, token: String? = nil, body: String? = nil) async throws -> (Int, [String: String], String) {
        try await QueryServiceTests.request(port, path, token: token, body: body)
    }

    static func json(_ text: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? [:]
    }

    @Test("a tenant's token reads only its devices through every route, one device name in three tenants is three devices, and under the daemon's role SQL sees one tenant's rows")
    func isolation() async throws {
        let deployment = try Deployment()
        let processor = try Daemon("telemetry-processor", name: "tenant-processor", environment: deployment.processorEnvironment())
        let hub = try Daemon("telemetry-hub", name: "tenant-hub", environment: [
            "REDIS_KEY_PREFIX": deployment.prefix, "SPOOL_DIR": deployment.spoolDirectory, "INGEST_FLUSH_INTERVAL_MS": "5",
            "TENANTS_NAMES": "a,b", "TENANTS_A_INGEST_TOKEN": Self.ingestA, "TENANTS_B_INGEST_TOKEN": Self.ingestB])
        let query = try QueryServiceTests.query(deployment, name: "tenant-query", yaml: """
            tenants:
              names: [a, b]
              a:
                query_token: "\(Self.queryA)"
              b:
                query_token: "\(Self.queryB)"

            """, replicaPort: nil)
        let hubPort = try await hub.httpPort()
        let port = try await query.httpPort()
        let p = deployment.prefix
        let shared = "\(p)_shared", onlyA = "\(p)_only_a", onlyB = "\(p)_only_b"
        // On a minute boundary: each device's readings share one bucket of every rollup.
        let start = (Int64(Date().timeIntervalSince1970) / 60 - 10) * 60_000_000
        func line(_ device: String, _ offset: Int64, _ fields: String) -> String {
            "{\"device_id\":\"\(device)\",\"timestamp\":\"\(Timestamp.formatRFC3339(micros: start + offset * 1_000_000))\",\(fields)}"
        }
        // Tenant a: `shared` crosses the temperature threshold (an alert); tenant b: `shared`
        // crosses the humidity one; the default tenant (no token, on loopback) has a `shared` too.
        let posts: [(String?, [String])] = [
            (Self.ingestA, [line(shared, 0, "\"temperature\":21"), line(shared, 1, "\"temperature\":85"), line(onlyA, 0, "\"temperature\":22")]),
            (Self.ingestB, [line(shared, 0, "\"temperature\":30,\"humidity\":99"), line(onlyB, 0, "\"temperature\":23")]),
            (nil, [line(shared, 0, "\"temperature\":10")]),
        ]
        for (token, lines) in posts {
            let (status, _, text) = try await Self.request(hubPort, "/v1/samples", token: token, body: lines.joined(separator: "\n"))
            #expect(status == 202, "\(text)")
        }
        // A token the hub does not know is refused; a tenant posts no seed-format task (those are the default tenant's).
        let (unknown, _, _) = try await Self.request(hubPort, "/v1/samples", token: Self.queryA, body: line(onlyA, 5, "\"temperature\":1"))
        #expect(unknown == 401)
        let task = "{\"id\":\"\(p)-t1\",\"device_id\":\"\(onlyA)\",\"timestamp\":\"\(Timestamp.formatRFC3339(micros: start))\",\"temperature\":1}"
        let (taskStatus, _, taskText) = try await Self.request(hubPort, "/v1/tasks", token: Self.ingestA, body: task)
        #expect(taskStatus == 403 && taskText.contains("tenant_not_supported"), "\(taskText)")

        let owner = try deployment.database.connect()
        #expect(try await eventually(timeout: .seconds(30)) { try deployment.database.scalar("SELECT count(*) FROM samples") == 7 }, "\(processor.tail)")
        #expect(try await eventually(timeout: .seconds(10)) { try deployment.database.scalar("SELECT count(*) FROM alerts") == 2 })
        // One name, three tenants: three devices.
        let devices = try owner.execute("SELECT t.name, d.name, d.id FROM devices d JOIN tenants t ON t.id = d.tenant_id ORDER BY 1, 2").rows
        #expect(devices.map { "\($0[0] ?? "")/\($0[1] ?? "")" } == ["a/\(onlyA)", "a/\(shared)", "b/\(onlyB)", "b/\(shared)", "default/\(shared)"])
        let idsOfB = devices.filter { $0[0] == "b" }.compactMap { $0[2] }

        // GET /v1/devices: each token sees its own tenant's devices only.
        for (token, expected) in [(Self.queryA, [onlyA, shared]), (Self.queryB, [onlyB, shared]), (nil, [shared])] as [(String?, [String])] {
            let (status, _, text) = try await Self.request(port, "/v1/devices", token: token)
            let listed = (Self.json(text)["devices"] as? [[String: Any]] ?? []).compactMap { $0["device"] as? String }
            #expect(status == 200 && listed == expected, "\(token ?? "default"): \(text)")
        }
        // Latest values, from the database and then from the cache, per tenant.
        for consistency in ["strong", "eventual", "eventual"] {
            for (token, value) in [(Self.queryA, 85.0), (Self.queryB, 30.0), (nil, 10.0)] as [(String?, Double)] {
                let (status, headers, text) = try await Self.request(port, "/v1/devices/\(shared)/latest?consistency=\(consistency)", token: token)
                let metrics = Self.json(text)["metrics"] as? [String: Any]
                let temperature = (metrics?["temperature"] as? [String: Any])?["value"] as? Double
                #expect(status == 200 && temperature == value, "\(consistency) \(token ?? "default"): \(headers) \(text)")
            }
        }
        let redis = try TestServers.redis()
        for key in ["\(p):latest@a:\(shared)", "\(p):latest@b:\(shared)", "\(p):latest:\(shared)"] {
            #expect(try redis.send(["EXISTS", key]) == .integer(1), "\(key)")
        }
        // Another tenant's device is unknown (404, the answer for a name nobody has) through every route and level.
        for consistency in ["strong", "eventual", "session"] {
            for path in ["/v1/devices/\(onlyB)/latest", "/v1/series?device=\(onlyB)&metric=temperature&step=raw",
                         "/v1/series?device=\(onlyB)&metric=temperature&step=1m", "/v1/alerts?device=\(onlyB)"] {
                let (status, _, text) = try await Self.request(port, path + (path.contains("?") ? "&" : "?") + "consistency=\(consistency)",
                                                               token: Self.queryA)
                #expect(status == 404 && text.contains("unknown_device"), "\(path) \(consistency): \(status) \(text)")
            }
        }
        // Series and alerts of the shared name are the tenant's own.
        let range = "from=\(Timestamp.formatRFC3339(micros: start - 60_000_000))&to=\(Timestamp.formatRFC3339(micros: start + 60_000_000))"
        for (token, values) in [(Self.queryA, [21.0, 85.0]), (Self.queryB, [30.0]), (nil, [10.0])] as [(String?, [Double])] {
            let (status, _, text) = try await Self.request(port, "/v1/series?device=\(shared)&metric=temperature&step=raw&\(range)", token: token)
            let points = (Self.json(text)["points"] as? [[String: Any]] ?? []).compactMap { $0["value"] as? Double }
            #expect(status == 200 && points == values, "\(token ?? "default"): \(text)")
        }
        for (token, metric) in [(Self.queryA, "temperature"), (Self.queryB, "humidity")] {
            let (status, _, text) = try await Self.request(port, "/v1/alerts?since=\(Timestamp.formatRFC3339(micros: start - 60_000_000))", token: token)
            let alerts = Self.json(text)["alerts"] as? [[String: Any]] ?? []
            #expect(status == 200 && alerts.count == 1 && alerts.first?["metric"] as? String == metric, "\(text)")
        }
        let (wrong, _, _) = try await Self.request(port, "/v1/devices", token: Self.ingestA)
        #expect(wrong == 401)

        // Under the daemon's role the database itself keeps to the session's tenant.
        let reader = try PostgresConnection(conninfo: "host=\(TestServers.pgHost) port=\(TestServers.pgPort) user=\(TestServers.queryUser) dbname=\(deployment.database.name)")
        let tables = ["devices", "samples", "aggregates_1m", "aggregates_1h", "aggregates_1d", "latest_values", "alerts", "readings", "device_latest", "tenants"]
        func counts() throws -> [Int] { try tables.map { Int(try reader.execute("SELECT count(*) FROM \($0)").rows.first?[0] ?? "") ?? -1 } }
        #expect(try counts() == [Int](repeating: 0, count: tables.count), "a session that names no tenant sees nothing")
        try reader.query("SELECT set_config('telemetry.tenant', $1, false)", ["a"])
        #expect(try counts() == [2, 3, 2, 2, 2, 2, 1, 3, 2, 1])
        let leaked = try reader.query("""
            SELECT (SELECT count(*) FROM samples WHERE device_id = ANY($1::int[])) + (SELECT count(*) FROM latest_values WHERE device_id = ANY($1::int[]))
                 + (SELECT count(*) FROM aggregates_1m WHERE device_id = ANY($1::int[])) + (SELECT count(*) FROM alerts WHERE device_id = ANY($1::int[]))
                 + (SELECT count(*) FROM devices WHERE id = ANY($1::int[]))
            """, [PostgresText.array(idsOfB)]).rows.first?[0]
        #expect(leaked == "0", "tenant b's rows read under tenant a")
        try reader.query("SELECT set_config('telemetry.tenant', $1, false)", ["b"])
        #expect(try counts() == [2, 3, 3, 3, 3, 3, 1, 3, 2, 1])
        // A day partition read directly (around the parent's policies) and any write are refused.
        // The day partition holding most of tenant b's samples (the samples may straddle midnight UTC).
        let held = try owner.query("""
            SELECT tableoid::regclass::text, count(*) FROM samples WHERE device_id = ANY($1::int[])
            GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1
            """, [PostgresText.array(idsOfB)]).rows.first
        let partition = held?[0] ?? "samples", heldOfB = held?[1] ?? "?"
        #expect(partition != "samples", "tenant b's samples are in a day partition")
        for sql in ["SELECT count(*) FROM \(partition)", "INSERT INTO devices (name) VALUES ('x')", "DELETE FROM samples",
                    "UPDATE tenants SET name = 'a' WHERE name = 'b'"] {
            #expect(throws: PostgresError.self, "\(sql)") { try reader.execute(sql) }
        }
        // Even granted by mistake, a day partition shows the session's tenant only (its own policy).
        try owner.execute("GRANT SELECT ON \(partition) TO telemetry_reader")
        #expect(try reader.execute("SELECT count(*) FROM \(partition)").rows.first?[0] == heldOfB)
        try reader.query("SELECT set_config('telemetry.tenant', $1, false)", [""])
        #expect(try reader.execute("SELECT count(*) FROM \(partition)").rows.first?[0] == "0")
        #expect(await query.stop() == 0)
        #expect(await hub.stop() == 0)
        #expect(await processor.stop() == 0)
    }

    @Test("with tenants configured, a query daemon connected as the tables' owner (not subject to row-level security) serves no read and says why")
    func ownerRoleRefused() async throws {
        let deployment = try Deployment()
        let processor = try Daemon("telemetry-processor", name: "tenant-owner-processor", environment: deployment.processorEnvironment())
        #expect(try await eventually(timeout: .seconds(30)) { try deployment.database.scalar("SELECT count(*) FROM schema_migrations") >= 11 },
                "\(processor.tail)")
        let config = """
            postgres:
              url: "host=\(TestServers.pgHost) port=\(TestServers.pgPort) user=\(TestServers.pgUser) dbname=\(deployment.database.name)"
            redis:
              key_prefix: \(deployment.prefix)
            tenants:
              names: [a]
              a:
                query_token: "\(Self.queryA)"

            """
        let path = "\(TestServers.logDirectory)/tenant-owner-query-\(deployment.prefix).yaml"
        try config.write(toFile: path, atomically: true, encoding: .utf8)
        let query = try Daemon("telemetry-query", name: "tenant-owner-query", environment: [:], arguments: ["--config", path])
        let port = try await query.httpPort()
        for token in [Self.queryA, nil] as [String?] {
            let (status, _, text) = try await Self.request(port, "/v1/devices?consistency=strong", token: token)
            #expect(status == 503 && text.contains("row-level security"), "\(status) \(text)")
        }
        #expect(try await eventually(timeout: .seconds(10)) { query.tail.contains("row-level security") }, "\(query.tail)")
        #expect(try await query.get("/ready").0 != 200)
        #expect(await query.stop() == 0)
        #expect(await processor.stop() == 0)
    }

    @Test("a tenant's rejected samples carry their tenant into the dead letters, and a replay stores them under it, once")
    func deadLetterReplay() async throws {
        let deployment = try Deployment()
        var processor = try Daemon("telemetry-processor", name: "tenant-dlq-processor-1", environment: deployment.processorEnvironment())
        let hub = try Daemon("telemetry-hub", name: "tenant-dlq-hub", environment: [
            "REDIS_KEY_PREFIX": deployment.prefix, "SPOOL_DIR": deployment.spoolDirectory, "INGEST_FLUSH_INTERVAL_MS": "5",
            "TENANTS_NAMES": "a", "TENANTS_A_INGEST_TOKEN": Self.ingestA])
        let hubPort = try await hub.httpPort()
        let device = "\(deployment.prefix)_oven"
        let ts = Timestamp.formatRFC3339(micros: wallClockMicros() - 60_000_000)
        // 180 °C is over the built-in range (100): dead-lettered by the processor, its neighbour stored.
        let body = "{\"device_id\":\"\(device)\",\"timestamp\":\"\(ts)\",\"temperature\":180,\"humidity\":40}"
        let (status, _, text) = try await Self.request(hubPort, "/v1/samples", token: Self.ingestA, body: body)
        #expect(status == 202, "\(text)")
        let db = deployment.database
        #expect(try await eventually(timeout: .seconds(30)) { try deployment.deadLetters().count == 1 && db.scalar("SELECT count(*) FROM samples") == 1 },
                "\(processor.tail)")
        let letter = try #require(try deployment.deadLetters().first)
        #expect(String(decoding: letter.fields["payload"] ?? [], as: UTF8.self).contains(#""tenant":"a""#))
        #expect(await processor.stop() == 0)
        // The operator raises the range and replays: the sample goes back as a batch of tenant a.
        processor = try Daemon("telemetry-processor", name: "tenant-dlq-processor-2",
                               environment: deployment.processorEnvironment(extra: ["VALIDATION_TEMPERATURE_MAX": "300"]))
        let (replayStatus, replay) = try await runTool("telemetryctl", ["dlq", "replay", letter.id] + deployment.ctlOptions)
        #expect(replayStatus == 0, "\(replay)")
        let tenantOf = """
            SELECT count(*) FROM samples s JOIN devices d ON d.id = s.device_id JOIN tenants t ON t.id = d.tenant_id
            JOIN metrics m ON m.id = s.metric_id WHERE t.name = 'a' AND m.name = 'temperature' AND s.value = 180
            """
        #expect(try await eventually(timeout: .seconds(30)) { try db.scalar(tenantOf) == 1 }, "\(processor.tail)")
        #expect(try db.scalar("SELECT count(*) FROM devices") == 1, "the replay made a device in another tenant")
        // The replayed entry leaves the dead letters.
        #expect(try deployment.deadLetters().isEmpty)
        #expect(await hub.stop() == 0)
        #expect(await processor.stop() == 0)
    }

    @Test("tenants.default names a new deployment's default tenant; over devices already filed under 'default', start-up waits and says how to rename it")
    func defaultTenantName() async throws {
        let fresh = try Deployment()
        let processor = try Daemon("telemetry-processor", name: "tenant-default-processor",
                                   environment: fresh.processorEnvironment(extra: ["TENANTS_DEFAULT": "plant-1"]))
        let hub = try Daemon("telemetry-hub", name: "tenant-default-hub", environment: [
            "REDIS_KEY_PREFIX": fresh.prefix, "SPOOL_DIR": fresh.spoolDirectory, "INGEST_FLUSH_INTERVAL_MS": "5", "TENANTS_DEFAULT": "plant-1"])
        let hubPort = try await hub.httpPort()
        let ts = Timestamp.formatRFC3339(micros: wallClockMicros() - 60_000_000)
        let (status, _, text) = try await Self.request(hubPort, "/v1/samples", body: "{\"device_id\":\"\(fresh.prefix)_d\",\"timestamp\":\"\(ts)\",\"temperature\":20}")
        #expect(status == 202, "\(text)")
        let filed = "SELECT count(*) FROM devices d JOIN tenants t ON t.id = d.tenant_id WHERE t.name = 'plant-1' AND t.id = 1"
        #expect(try await eventually(timeout: .seconds(30)) { try fresh.database.scalar(filed) == 1 }, "\(processor.tail)")
        #expect(try fresh.database.scalar("SELECT count(*) FROM tenants") == 1)
        #expect(await hub.stop() == 0)
        #expect(await processor.stop() == 0)

        // A deployment that stored devices as 'default' and is then told another name.
        let old = try Deployment()
        let first = try Daemon("telemetry-processor", name: "tenant-rename-processor-1", environment: old.processorEnvironment())
        let redis = try TestServers.redis()
        _ = try redis.send(["RPUSH", "\(old.prefix):tasks",
                            "{\"id\":\"t1\",\"type\":\"telemetry.store\",\"payload\":{\"device_id\":\"\(old.prefix)_d\",\"timestamp\":\"\(ts)\",\"temperature\":20}}"])
        #expect(try await eventually(timeout: .seconds(30)) { try old.database.scalar("SELECT count(*) FROM samples") == 1 }, "\(first.tail)")
        #expect(await first.stop() == 0)
        let renamed = try Daemon("telemetry-processor", name: "tenant-rename-processor-2",
                                 environment: old.processorEnvironment(extra: ["TENANTS_DEFAULT": "plant-1"]))
        #expect(try await eventually(timeout: .seconds(20)) { renamed.tail.contains("UPDATE tenants SET name = 'plant-1' WHERE id = 1") }, "\(renamed.tail)")
        #expect(try await renamed.get("/ready").0 != 200)
        #expect(try old.database.scalar("SELECT count(*) FROM tenants") == 1, "a second tenant was made for the same devices")
        #expect(await renamed.stop() == 0)
    }
}
