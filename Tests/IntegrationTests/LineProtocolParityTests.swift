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
}
