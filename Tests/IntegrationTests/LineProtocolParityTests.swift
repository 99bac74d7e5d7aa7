import Foundation
import TelemetryCore
import Testing

/// InfluxDB line protocol against the real thing: Debian's influxd 1.6 and the official Python
/// clients (`influxdb`, `influxdb-client`) from the tests' venv (Tests/LineProtocol/parity.py).
@Suite("Line protocol parity with influxd 1.6 (real Redis, PostgreSQL and influxd)", .serialized)
struct LineProtocolParityTests {
    static var python: String { TestServers.environment["TELEMETRY_PYTHON"] ?? "\(TestServers.logDirectory)/../../venv/bin/python" }
    static var script: String { TestServers.root.appendingPathComponent("Tests/LineProtocol/parity.py").path }

    @Test("10 000 lines of every grammar case through /write to the hub and to influxd: the same verdict per line, the same values read back, and the documented differences exactly; influxdb-client through /api/v2/write")
    func parity() async throws {
        let (probe, _) = try await runTool(Self.python, ["-c", "import influxdb, influxdb_client"])
        guard probe == 0 else { throw HarnessError("the influxdb and influxdb-client packages are not installed for \(Self.python): run `make deps-test`") }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/influxd") else {
            throw HarnessError("influxd is not installed: run `make deps-test` (Debian package influxdb)")
        }
        let deployment = try Deployment()
        let token = "parity-token-\(deployment.prefix)"
        let processor = try Daemon("telemetry-processor", name: "lp-processor", environment: deployment.processorEnvironment())
        let hub = try Daemon("telemetry-hub", name: "lp-hub", environment: deployment.hubEnvironment(sensors: 1, readings: 1, rate: 1, extra: [
            "SIMULATED_ENABLED": "false", "HTTP_INGEST_TOKEN": token,
        ]))
        let work = "\(TestServers.logDirectory)/../lp-\(deployment.prefix)"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }

        let (status, output) = try await runTool(Self.python, [Self.script, String(try await hub.httpPort()), token, work])
        guard status == 0, let data = FileManager.default.contents(atPath: "\(work)/report.json"),
              let report = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw HarnessError("parity.py failed (\(status)):\n\(output.suffix(3000))\nhub:\n\(hub.tail)")
        }
        let mismatches = report["mismatches"] as? [[String: Any]] ?? []
        #expect(mismatches.isEmpty, "\(mismatches.count) verdicts differ, e.g. \(mismatches.prefix(10))")
        let valueMismatches = report["influx_value_mismatches"] as? [[String: Any]] ?? []
        #expect(valueMismatches.isEmpty, "influxd read back other values: \(valueMismatches.prefix(10))")
        let v2 = report["v2"] as? [String: Any] ?? [:]
        #expect((v2["errors"] as? [String] ?? ["no v2 report"]).isEmpty, "\(v2["errors"] ?? "")")
        #expect((report["lines"] as? Int ?? 0) >= 10_000)

        // Every numeric field the hub acknowledged is one sample, equal to what influxd read back.
        let expected = (report["expected_readings"] as? [[String: Any]] ?? []) + (v2["expected_readings"] as? [[String: Any]] ?? [])
        let deadLettered = report["dead_lettered"] as? Int ?? 0
        #expect(deadLettered > 0)
        let db = deployment.database
        try await db.expectStoredOnce(expected.count, "hub:\n\(hub.tail)\nprocessor:\n\(processor.tail)")
        let rows = try db.connect().execute("""
            SELECT d.name, m.name, (extract(epoch FROM s.ts) * 1000000)::bigint, s.value::text
            FROM samples s JOIN devices d ON d.id = s.device_id JOIN metrics m ON m.id = s.metric_id
            """).rows
        var stored: [String: [(micros: Int64, value: Double)]] = [:]
        for row in rows {
            stored["\(row[0] ?? "")\u{0}\(row[1] ?? "")", default: []].append((Int64(row[2] ?? "") ?? 0, Double(row[3] ?? "") ?? .nan))
        }
        var missing: [String] = []
        for reading in expected {
            let key = "\(reading["device"] as? String ?? "")\u{0}\(reading["metric"] as? String ?? "")"
            // Values travel as Python's repr (shortest round-trip text): JSON numbers would be re-parsed.
            let value = Double(reading["value"] as? String ?? "") ?? .nan
            let micros = (reading["micros"] as? NSNumber)?.int64Value
            let found = (stored[key] ?? []).contains { ($0.value == value || ($0.value == 0 && value == 0)) && (micros == nil || $0.micros == micros) }
            if !found { missing.append("\(reading) stored: \(stored[key] ?? [])") }
        }
        #expect(missing.isEmpty, "\(missing.count) acknowledged readings not stored as sent, e.g. \(missing.prefix(5))")
        // The points outside the hub's retention window were acknowledged, then dead-lettered with their reason.
        func letteredSamples() throws -> Int {
            try deployment.deadLetters().reduce(0) { total, letter in
                let payload = String(decoding: letter.fields["payload"] ?? [], as: UTF8.self)
                return total + payload.split(separator: "\n").filter { $0.contains(#""reason":"timestamp_too_old""#) || $0.contains(#""reason":"timestamp_future""#) }.count
            }
        }
        let lettered = try await eventually(timeout: .seconds(30)) { try letteredSamples() == deadLettered }
        let letteredCount = try letteredSamples()
        #expect(lettered, "expected \(deadLettered) samples dead-lettered for timestamps out of retention: \(letteredCount) found")
        let kept = try await hub.metric("telemetry_hub_line_protocol_string_fields_total{outcome=\"kept\"}")
        #expect((kept ?? 0) > 0)
        print("""
            line protocol parity: \(report["lines"] ?? 0) lines, verdicts \(report["counts"] ?? [:]); influxd answered \(report["influx_statuses"] ?? [:]) \
            in \(report["influx_seconds"] ?? 0) s, the hub \(report["hub_statuses"] ?? [:]) in \(report["hub_seconds"] ?? 0) s; \
            \(expected.count) readings stored equal, \(deadLettered) dead-lettered out of retention
            """)
        #expect(await hub.stop() == 0, "\(hub.tail)")
        #expect(await processor.stop() == 0)
    }

    @Test("the write routes' answers (ping, db and bucket required, bad precision, credentials, empty body, 413, partial writes) and device labels: the latest value per key, every change, older readings changing nothing")
    func routesAndLabels() async throws {
        let deployment = try Deployment()
        let p = deployment.prefix
        let token = "labels-token-\(p)"
        let processor = try Daemon("telemetry-processor", name: "lpl-processor", environment: deployment.processorEnvironment())
        let hub = try Daemon("telemetry-hub", name: "lpl-hub", environment: deployment.hubEnvironment(sensors: 1, readings: 1, rate: 1, extra: [
            "SIMULATED_ENABLED": "false", "HTTP_INGEST_TOKEN": token, "HTTP_INGEST_MAX_BODY_BYTES": "2048",
        ]))
        let base = "http://127.0.0.1:\(try await hub.httpPort())"
        let work = "\(TestServers.logDirectory)/../lpl-\(p)"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        func body(_ text: String) throws -> String {
            let path = "\(work)/\(UUID().uuidString.prefix(8))"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let auth = "Authorization: Token \(token)"
        let now = wallClockMicros() / 1_000_000 - 600

        let (pingStatus, _, pingHeaders) = try await HTTPClients.post("\(base)/ping", body: try body(""), extra: ["-X", "GET"])
        #expect(pingStatus == 204 && pingHeaders.lowercased().contains("x-influxdb-version"))
        let one = try body("m,device_id=\(p)_x f=1 \(now)")
        var (status, text, headers) = try await HTTPClients.post("\(base)/write?precision=s", body: one, headers: [auth])
        #expect(status == 400 && text.contains(#""error":"database is required""#), "\(text)")
        (status, text, _) = try await HTTPClients.post("\(base)/api/v2/write?org=o&precision=s", body: one, headers: [auth])
        #expect(status == 400 && text.contains(#""code":"invalid""#) && text.contains("bucket is required"), "\(text)")
        (status, text, _) = try await HTTPClients.post("\(base)/write?db=d&precision=fortnight", body: one, headers: [auth])
        #expect(status == 400 && text.contains("invalid precision"), "\(text)")
        // Hours are 1.x only; an empty precision is nanoseconds on both, as in InfluxDB (the
        // same reading as `one`, stored once).
        (status, text, _) = try await HTTPClients.post("\(base)/api/v2/write?bucket=b&precision=h", body: one, headers: [auth])
        #expect(status == 400 && text.contains("invalid precision"), "\(text)")
        (status, text, _) = try await HTTPClients.post("\(base)/api/v2/write?bucket=b&precision=", body: try body("m,device_id=\(p)_x f=1 \(now)000000000"), headers: [auth])
        #expect(status == 204, "\(text)")
        (status, text, headers) = try await HTTPClients.post("\(base)/write?db=d&u=x&p=wrong", body: one)
        #expect(status == 401 && text.contains("authorization failed") && headers.lowercased().contains("x-influxdb-error"), "\(text)")
        (status, text, _) = try await HTTPClients.post("\(base)/api/v2/write?bucket=b", body: one, headers: ["Authorization: Bearer wrong"])
        #expect(status == 401 && text.contains(#""code":"unauthorized""#), "\(text)")
        (status, _, _) = try await HTTPClients.post("\(base)/write?db=d&precision=s&u=x&p=\(token)", body: one)
        #expect(status == 204)
        (status, _, _) = try await HTTPClients.post("\(base)/write?db=d", body: try body("\n# nothing\n"), headers: [auth])
        #expect(status == 204)
        (status, text, _) = try await HTTPClients.post("\(base)/api/v2/write?bucket=b", body: try body(String(repeating: "m,device_id=a f=1\n", count: 200)), headers: [auth])
        #expect(status == 413 && text.contains(#""code":"request too large""#), "\(text)")
        (status, text, headers) = try await HTTPClients.post("\(base)/write?db=d&precision=s", body: try body("m,device_id=\(p)_x f=2 \(now + 1)\nm,device_id=\(p)_x f=oops \(now + 2)"), headers: [auth])
        #expect(status == 400 && text.contains("partial write: unable to parse 'm,device_id=\(p)_x f=oops \(now + 2)': invalid number dropped=1"), "\(text)")
        #expect(headers.lowercased().contains("x-ingest-token"))

        // Labels: lines in separate requests, the third older than the second.
        let device = "\(p)_L1"
        for line in ["env,device_id=\(device),site=north,line=a t=1,status=\"run\" \(now + 10)",
                     "env,device_id=\(device),site=north,line=b t=2,status=\"run\" \(now + 20)",
                     "env,device_id=\(device),site=south,line=c t=3,status=\"stop\" \(now + 15)",
                     "env,device_id=\(p)_L2 firmware=\"1.2.3\" \(now + 10)"] {
            (status, text, _) = try await HTTPClients.post("\(base)/api/v2/write?bucket=b&precision=s", body: try body(line), headers: [auth])
            #expect(status == 204, "\(text)")
        }
        try await deployment.database.expectStoredOnce(5, "hub:\n\(hub.tail)")
        let db = try deployment.database.connect()
        let labels = try db.execute("""
            SELECT d.name, l.kind, l.key, l.value, extract(epoch FROM l.value_since)::bigint - \(now), extract(epoch FROM l.last_seen)::bigint - \(now)
            FROM device_labels l JOIN devices d ON d.id = l.device_id ORDER BY 1, 2, 3
            """).rows.map { $0.map { $0 ?? "" }.joined(separator: " ") }
        #expect(labels == ["\(device) field status run 10 20", "\(device) tag line b 20 20", "\(device) tag site north 10 20",
                           "\(p)_L2 field firmware 1.2.3 10 10"], "\(labels)")
        let changes = try db.execute("""
            SELECT d.name, c.key, coalesce(c.old_value, '-'), c.new_value, extract(epoch FROM c.ts)::bigint - \(now)
            FROM device_label_changes c JOIN devices d ON d.id = c.device_id ORDER BY c.ts, d.name, c.key
            """).rows.map { $0.map { $0 ?? "" }.joined(separator: " ") }
        #expect(changes == ["\(device) line - a 10", "\(device) site - north 10", "\(device) status - run 10", "\(p)_L2 firmware - 1.2.3 10",
                            "\(device) line a b 20"], "\(changes)")
        #expect(await hub.stop() == 0, "\(hub.tail)")
        #expect(await processor.stop() == 0)
    }
}
