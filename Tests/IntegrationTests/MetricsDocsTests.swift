import Foundation
import Postgres
import Testing
import TelemetryCore

/// Docs/metrics.md against the live `/metrics` of both daemons, both ways: every exposed name is
/// documented under its daemon (or under both), and every documented name is exposed.
@Suite("Metrics reference (real Redis and PostgreSQL)", .serialized)
struct MetricsDocsTests {
    /// The names of each section's table rows: "Every daemon", "telemetry-hub", "telemetry-processor", "telemetry-query".
    static func documented() throws -> [String: Set<String>] {
        let text = try String(contentsOfFile: TestServers.root.appendingPathComponent("Docs/metrics.md").path, encoding: .utf8)
        var sections: [String: Set<String>] = [:]
        var section = ""
        for line in text.split(separator: "\n") {
            if line.hasPrefix("## ") { section = String(line.dropFirst(3)) }
            guard line.hasPrefix("| `") else { continue }
            let name = line.dropFirst(3).prefix { $0 != "`" }
            #expect(!(sections[section]?.contains(String(name)) ?? false), "\(name) is listed twice under \(section)")
            sections[section, default: []].insert(String(name))
        }
        return sections
    }

    /// The metric names in a scrape (from `# TYPE` lines: histograms by their base name).
    static func exposed(_ scrape: String) -> Set<String> {
        Set(scrape.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("# TYPE ") else { return nil }
            return line.split(separator: " ").dropFirst(2).first.map(String.init)
        })
    }

    @Test("every metric each daemon exposes is in Docs/metrics.md under its daemon, and every one listed there is exposed")
    func bothWays() async throws {
        let sections = try Self.documented()
        let both = try #require(sections["Every daemon"])
        let hubDocumented = both.union(try #require(sections["telemetry-hub"]))
        let processorDocumented = both.union(try #require(sections["telemetry-processor"]))
        #expect(both.contains("process_cpu_seconds_total") && both.contains("process_resident_memory_bytes"))

        let deployment = try Deployment()
        // With an MQTT broker nobody listens on, so the per-broker series are there too.
        let hub = try Daemon("telemetry-hub", name: "metrics-doc-hub",
                             environment: deployment.hubEnvironment(sensors: 2, readings: 3, rate: 50,
                                                                    extra: ["MQTT_BROKERS": "m1", "MQTT_BROKER_M1_URL": "mqtt://127.0.0.1:9"]))
        // A replication slot (reserving no WAL), so the slot series are there too.
        let superuser = try PostgresConnection(conninfo: "host=\(TestServers.pgHost) port=\(TestServers.pgPort) user=postgres dbname=postgres")
        let slot = "metrics_doc_\(deployment.prefix)"
        try superuser.execute("SELECT pg_create_physical_replication_slot('\(slot)')")
        defer { _ = try? superuser.execute("SELECT pg_drop_replication_slot('\(slot)')") }
        // With a lake and an Alertmanager (nobody listens there), so the exporter's and the
        // deliverer's series are there too.
        // Data quality every second, the simulated devices in a group of known interval (so
        // their completeness is defined).
        let config = "\(try LakeTests.folder("metrics-doc"))/processor.yaml"
        try """
            health:
              interval_s: 1
              quality_interval_s: 1
              groups: [sim]
              group:
                sim: { devices: ["\(deployment.prefix)_*"], interval_s: 0.02 }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let processor = try Daemon("telemetry-processor", name: "metrics-doc-processor",
                                   environment: deployment.processorEnvironment(extra: ["LAKE_PATH": try LakeTests.folder("metrics-doc"),
                                                                                                      "ALERTING_ALERTMANAGER_URL": "http://127.0.0.1:9"]),
                                   arguments: ["--config", config])
        // The series that appear only after their event: a rejected line and an answered ingest
        // request on the hub, a queue probe on the processor.
        let port = try await hub.httpPort()
        let body = "\(TestServers.logDirectory)/metrics-doc-\(deployment.prefix).ndjson"
        try "{\"device_id\":\"\(deployment.prefix)_x\",\"temperature\":\"warm\"}\n".write(toFile: body, atomically: true, encoding: .utf8)
        let (status, answer, _) = try await HTTPClients.post("http://127.0.0.1:\(port)/v1/samples", body: body)
        #expect(status == 400, "\(answer)")
        // A reading the processor refuses (out of range), for the data quality's rejections.
        let refused = "\(TestServers.logDirectory)/metrics-doc-refused-\(deployment.prefix).ndjson"
        try "{\"device_id\":\"\(deployment.prefix)_x\",\"timestamp\":\"\(Timestamp.formatRFC3339(micros: wallClockMicros()))\",\"temperature\":500}\n"
            .write(toFile: refused, atomically: true, encoding: .utf8)
        let (accepted, acceptance, _) = try await HTTPClients.post("http://127.0.0.1:\(port)/v1/samples", body: refused)
        #expect(accepted == 202, "\(acceptance)")
        let hubHasAll = try await eventually(timeout: .seconds(30)) { Self.exposed(try await hub.get("/metrics").1).isSuperset(of: hubDocumented) }
        let processorHasAll = try await eventually(timeout: .seconds(30)) {
            Self.exposed(try await processor.get("/metrics").1).isSuperset(of: processorDocumented)
        }
        let hubExposed = Self.exposed(try await hub.get("/metrics").1)
        let processorExposed = Self.exposed(try await processor.get("/metrics").1)
        #expect(hubExposed.count > 30 && processorExposed.count > 30, "\(hubExposed) \(processorExposed)")
        #expect(hubHasAll, "documented for the hub but not exposed: \(hubDocumented.subtracting(hubExposed).sorted())")
        #expect(processorHasAll, "documented for the processor but not exposed: \(processorDocumented.subtracting(processorExposed).sorted())")
        #expect(hubExposed.subtracting(hubDocumented).isEmpty, "exposed by the hub, not documented: \(hubExposed.subtracting(hubDocumented).sorted())")
        #expect(processorExposed.subtracting(processorDocumented).isEmpty,
                "exposed by the processor, not documented: \(processorExposed.subtracting(processorDocumented).sorted())")
        // Names documented for one daemon only are not exposed by the other.
        let hubOnly = hubDocumented.subtracting(both)
        #expect(processorExposed.intersection(hubOnly).isEmpty && hubExposed.intersection(processorDocumented.subtracting(both)).isEmpty)

        // The process metrics say something true of the process.
        let scrape = try await hub.get("/metrics").1
        func value(_ name: String) -> Double? {
            scrape.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
        }
        #expect((value("process_resident_memory_bytes") ?? 0) > 1_000_000)
        #expect((value("process_open_fds") ?? 0) >= 3 && (value("process_open_fds") ?? 0) <= (value("process_max_fds") ?? 0))
        #expect(abs((value("process_start_time_seconds") ?? 0) - Date().timeIntervalSince1970) < 600)
        // The query daemon, with the test replica: a latest read (a miss and a fill), a session
        // read with a token no processor will see (425), so every series it documents appears.
        let queryDocumented = both.union(try #require(sections["telemetry-query"]))
        let query = try QueryServiceTests.query(deployment, name: "metrics-doc-query")
        let queryPort = try await query.httpPort()
        let device = "\(deployment.prefix)_sim_001"
        #expect(try await eventually(timeout: .seconds(30)) { try await QueryServiceTests.get(queryPort, "/v1/devices/\(device)/latest").0 == 200 },
                "\(query.tail)")
        _ = try await QueryServiceTests.get(queryPort, "/v1/devices/\(device)/latest?after=t1.1.1.bm9uZQ&wait_ms=0")
        let queryHasAll = try await eventually(timeout: .seconds(30)) { Self.exposed(try await query.get("/metrics").1).isSuperset(of: queryDocumented) }
        let queryExposed = Self.exposed(try await query.get("/metrics").1)
        #expect(queryHasAll, "documented for the query daemon but not exposed: \(queryDocumented.subtracting(queryExposed).sorted())")
        #expect(queryExposed.subtracting(queryDocumented).isEmpty, "exposed by the query daemon, not documented: \(queryExposed.subtracting(queryDocumented).sorted())")
        #expect(await query.stop() == 0)
        #expect(await hub.stop() == 0)
        #expect(await processor.stop() == 0)
    }

    @Test("log.format json: every record of a daemon is one JSON object per line, with level, logger and message")
    func jsonLogs() async throws {
        let deployment = try Deployment()
        let processor = try Daemon("telemetry-processor", name: "json-log-processor",
                                   environment: deployment.processorEnvironment(extra: ["LOG_FORMAT": "json", "LOG_JOURNAL": "false"]))
        _ = try await processor.httpPort()
        #expect(await processor.stop() == 0)
        let lines = try String(contentsOfFile: processor.logPath, encoding: .utf8).split(separator: "\n")
        #expect(lines.count >= 3)
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["level"] is String && object?["message"] is String && object?["logger"] is String && object?["ts"] is String, "\(line)")
        }
        #expect(lines.contains { $0.contains("\"http_port\":") }, "metadata keys are fields of their own")
    }
}
