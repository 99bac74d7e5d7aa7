import Foundation
import Redis
import TelemetryCore
import Testing

/// The operating surface against running daemons: control socket and telemetryctl, SIGHUP
/// reload, Prometheus metrics and alert rules.
@Suite("Operations (real Redis and PostgreSQL)", .serialized)
struct OperationsTests {
    static let repository = TestServers.root.path

    @Test("telemetryctl status and --json show children, dependencies, queues, rates, spool and lag; curl --unix-socket works; the socket is 0660")
    func statusOverControlSocket() async throws {
        let deployment = try Deployment()
        let db = deployment.database
        // The processor's socket goes to an existing group other than the test's own (the units use
        // `telemetry`, which is the process group there already).
        let postgresGroup = try #require(getgrnam("postgres")).pointee.gr_gid
        let processor = try Daemon("telemetry-processor", name: "status-processor",
                                   environment: deployment.processorEnvironment(extra: ["CONTROL_GROUP": "postgres"]))
        let hub = try Daemon("telemetry-hub", name: "status-hub", environment: deployment.hubEnvironment(sensors: 4, readings: 0, rate: 20))
        #expect(try await eventually(timeout: .seconds(60)) { try db.scalar("SELECT count(*) FROM samples") > 100 }, "\(processor.tail)")
        try await Task.sleep(for: .seconds(2))  // two rate samples

        for daemon in [hub, processor] {
            var info = stat()
            #expect(stat(daemon.controlSocket, &info) == 0)
            #expect(info.st_mode & S_IFMT == S_IFSOCK)
            #expect(info.st_mode & 0o777 == 0o660, "mode \(String(info.st_mode & 0o777, radix: 8))")
        }
        var processorSocket = stat()
        #expect(stat(processor.controlSocket, &processorSocket) == 0 && processorSocket.st_gid == postgresGroup)

        // Discovery through $RUNTIME_DIRECTORY (one per daemon here, so point at each in turn).
        let (hubCode, hubScreen) = try await runTool("telemetryctl", ["status"], environment: ["RUNTIME_DIRECTORY": hub.runtimeDirectory])
        #expect(hubCode == 0, "\(hubScreen)")
        for field in ["telemetry-hub", "ready", "CHILD", "STATE", "RESTARTS", "LAST ERROR", "bus-simulated", "ingest", "publisher",
                      "running", "redis reachable", "spool", "breaker", "buffer_batches", "samples_read", "rates"] {
            #expect(hubScreen.contains(field), "missing \(field) in:\n\(hubScreen)")
        }
        let (code, screen) = try await runTool("telemetryctl", ["status", "--socket", hub.controlSocket, "--socket", processor.controlSocket])
        #expect(code == 0, "\(screen)")
        for field in ["telemetry-processor", "consumer", "worker-0", "leases", "partitions", "postgres reachable", "redis reachable",
                      "lag", "pending", "worker_queues", "samples_stored"] {
            #expect(screen.contains(field), "missing \(field) in:\n\(screen)")
        }

        let (jsonCode, json) = try await runTool("telemetryctl", ["status", "--json", "--socket", hub.controlSocket, "--socket", processor.controlSocket])
        #expect(jsonCode == 0, "\(json)")
        let documents = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
        #expect(documents.count == 2)
        let hubDocument = try #require(documents.first { $0["service"] as? String == "telemetry-hub" })
        let processorDocument = try #require(documents.first { $0["service"] as? String == "telemetry-processor" })
        for document in [hubDocument, processorDocument] {
            let children = try #require(document["children"] as? [[String: Any]])
            #expect(!children.isEmpty)
            for child in children {
                #expect(child["name"] is String && child["state"] is String && child["restarts"] is Int, "\(child)")
            }
            #expect(document["dependencies"] is [String: Any])
            #expect(document["queues"] is [String: Any])
            #expect(document["rates"] is [String: Any])
            #expect(document["ready"] as? Bool == true)
        }
        let hubRates = try #require(hubDocument["rates"] as? [String: Any])
        #expect((hubRates["samples_read_per_s"] as? Double ?? 0) > 0, "\(hubRates)")
        #expect((hubDocument["spool"] as? [String: Any])?["records"] is Int)
        #expect(hubDocument["breaker"] as? String == "closed")
        #expect(processorDocument["consumer_lag"] is Int)
        #expect(processorDocument["pending"] is Int)
        #expect((processorDocument["dependencies"] as? [String: Any])?["postgres"] as? String == "reachable")
        #expect((processorDocument["shards"] as? [Any])?.count == 8)

        // curl speaks to the same socket and gets the same document.
        let (curlCode, curled) = try await runTool("/usr/bin/curl", ["-sf", "--unix-socket", processor.controlSocket, "http://localhost/v1/status"])
        #expect(curlCode == 0, "\(curled)")
        let viaCurl = try #require(try JSONSerialization.jsonObject(with: Data(curled.utf8)) as? [String: Any])
        #expect(Set(viaCurl.keys) == Set(processorDocument.keys))
        #expect(viaCurl["pid"] as? Int == processorDocument["pid"] as? Int)
        #expect(viaCurl["socket"] as? String == processor.controlSocket)

        // A second instance on the same socket refuses to start instead of stealing it.
        let intruder = try Daemon("telemetry-processor", name: "status-processor-2", environment: deployment.processorEnvironment(
            consumer: "p2", extra: ["CONTROL_SOCKET": processor.controlSocket]))
        #expect(try await eventually(timeout: .seconds(20)) { !intruder.isRunning })
        #expect(await intruder.stop() == 1, "a socket another instance serves is a runtime failure (1), not a configuration error (2)")
        #expect(intruder.tail.contains("served by another running instance"))

        // No socket: a clear message and a failure status.
        let (missingCode, missing) = try await runTool("telemetryctl", ["status", "--socket", "/nonexistent/x.sock"])
        #expect(missingCode != 0 && missing.contains("cannot connect"), "\(missing)")

        #expect(await hub.stop() == 0)
        #expect(await processor.stop() == 0)
        print("status screen:\n\(screen)")
    }

    static func alertTask(_ id: String, device: String, temperature: Double) -> String {
        let ts = Timestamp.formatRFC3339(micros: wallClockMicros() - 5_000_000)
        return #"{"id": "\#(id)", "type": "telemetry.alert", "payload": {"device_id": "\#(device)", "timestamp": "\#(ts)", "temperature": \#(temperature)}}"#
    }

    @Test("SIGHUP: RELOADING=1 with MONOTONIC_USEC, then READY=1, and the new threshold applies; an invalid file keeps the old configuration and says why")
    func reloadOnSighup() async throws {
        let deployment = try Deployment()
        let db = deployment.database
        let redis = try TestServers.redis()
        let capture = try await NotifyCapture()
        let configPath = "\(capture.directory)/processor.yaml"
        func writeConfig(high: String) throws {
            try "thresholds:\n  temperature: { low: -20, high: \(high), severity: critical }\nlog:\n  level: info\n"
                .write(toFile: configPath, atomically: true, encoding: .utf8)
        }
        try writeConfig(high: "60")
        let processor = try Daemon("telemetry-processor", name: "reload-processor",
                                   environment: deployment.processorEnvironment(extra: ["NOTIFY_SOCKET": capture.socketPath]),
                                   arguments: ["--config", configPath])
        #expect(try await eventually(timeout: .seconds(30)) { capture.messages.contains { $0.text == "READY=1" } }, "\(processor.tail)")
        func send(_ id: String, device: String, temperature: Double) throws {
            _ = try redis.send(RedisCommand(["RPUSH", "\(deployment.prefix):tasks", Self.alertTask(id, device: "\(deployment.prefix)_\(device)", temperature: temperature)]))
        }
        func alerts(_ device: String) throws -> Int {
            try db.scalar("SELECT count(*) FROM alerts a JOIN devices d ON d.id = a.device_id WHERE d.name = '\(deployment.prefix)_\(device)'")
        }
        func stored(_ n: Int) async throws -> Bool {
            try await eventually(timeout: .seconds(30)) { try db.scalar("SELECT count(*) FROM samples") >= n }
        }
        try send("before", device: "a", temperature: 70)
        #expect(try await stored(1))
        #expect(try alerts("a") == 1, "70 > 60 fires under the first threshold")

        // A valid reload: high 80.
        try writeConfig(high: "80")
        let readyBefore = capture.messages.filter { $0.text == "READY=1" }.count
        kill(processor.process.processIdentifier, SIGHUP)
        #expect(try await eventually(timeout: .seconds(10)) { capture.messages.filter { $0.text == "READY=1" }.count > readyBefore }, "\(processor.tail)")
        let messages = capture.messages
        let reloading = try #require(messages.first { $0.text == "RELOADING=1" })
        let monotonic = try #require(messages.first { $0.text.hasPrefix("MONOTONIC_USEC=") })
        #expect(monotonic.datagram == reloading.datagram, "RELOADING=1 and MONOTONIC_USEC= travel together")
        #expect((Int64(monotonic.text.dropFirst("MONOTONIC_USEC=".count)) ?? 0) > 0)
        let readyAfter = try #require(messages.last { $0.text == "READY=1" })
        #expect(readyAfter.datagram > reloading.datagram)
        try send("after-75", device: "b", temperature: 75)
        try send("after-85", device: "c", temperature: 85)
        #expect(try await stored(3))
        #expect(try alerts("b") == 0, "75 is under the reloaded threshold 80")
        #expect(try alerts("c") == 1)

        // An invalid file: the old configuration (80) stays, and the log and STATUS say why.
        try "thresholds:\n  temperature: { high: not-a-number }\n".write(toFile: configPath, atomically: true, encoding: .utf8)
        let readyCount = capture.messages.filter { $0.text == "READY=1" }.count
        kill(processor.process.processIdentifier, SIGHUP)
        #expect(try await eventually(timeout: .seconds(10)) { capture.messages.filter { $0.text == "READY=1" }.count > readyCount })
        #expect(capture.messages.contains { $0.text.hasPrefix("STATUS=reload failed") && $0.text.contains("thresholds.temperature.high") },
                "\(capture.messages.map(\.text).suffix(5))")
        try send("invalid-78", device: "d", temperature: 78)
        try send("invalid-85", device: "e", temperature: 85)
        #expect(try await stored(5))
        #expect(try alerts("d") == 0, "the threshold is still 80")
        #expect(try alerts("e") == 1)
        let log = try String(contentsOfFile: processor.logPath, encoding: .utf8)
        #expect(log.contains("configuration reloaded") && log.contains("thresholds.temperature"))
        #expect(log.contains("configuration reload failed; keeping the running configuration") && log.contains("thresholds.temperature.high"))
        #expect(processor.isRunning)
        #expect(await processor.stop() == 0, "\(processor.tail)")
    }

    /// Metric names (without histogram suffixes) in a live exposition.
    static func names(in exposition: String) -> Set<String> {
        var names = Set<String>()
        for line in exposition.split(separator: "\n") where line.hasPrefix("# TYPE ") {
            names.insert(String(line.split(separator: " ")[2]))
        }
        return names
    }

    @Test("/metrics passes promtool check metrics; the alert rules pass promtool check rules; every metric the rules and the dashboard name is exposed")
    func metricsAndRules() async throws {
        let deployment = try Deployment()
        let db = deployment.database
        let processor = try Daemon("telemetry-processor", name: "metrics-processor", environment: deployment.processorEnvironment())
        let hub = try Daemon("telemetry-hub", name: "metrics-hub", environment: deployment.hubEnvironment(sensors: 4, readings: 30, rate: 50))
        #expect(try await eventually(timeout: .seconds(60)) { try db.scalar("SELECT count(*) FROM samples") >= 4 * 30 * 3 }, "\(processor.tail)")
        try await Task.sleep(for: .seconds(2))
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        // The query daemon with the test replica (its replica series exist only with one).
        let query = try QueryServiceTests.query(deployment, name: "metrics-query")
        #expect(try await eventually(timeout: .seconds(30)) { try await query.get("/ready").0 == 200 }, "\(query.tail)")
        var exposed = Set<String>()
        for daemon in [hub, processor, query] {
            let (status, body) = try await daemon.get("/metrics")
            #expect(status == 200)
            exposed.formUnion(Self.names(in: body))
            try body.write(toFile: "\(work)/\(daemon.name).prom", atomically: true, encoding: .utf8)
            let (code, lint) = try await runTool("/bin/sh", ["-c", "promtool check metrics < \(work)/\(daemon.name).prom"])
            #expect(code == 0 && lint.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "promtool on \(daemon.name):\n\(lint)")
        }
        for name in ["telemetry_hub_samples_read_total", "telemetry_hub_ring_occupancy", "telemetry_hub_batches_published_total",
                     "telemetry_processor_consumer_lag", "telemetry_processor_stream_length", "telemetry_processor_tasks_processed_total",
                     "telemetry_processor_dead_letters_total", "telemetry_processor_copy_rows_total", "telemetry_processor_copy_duration_seconds",
                     "telemetry_processor_end_to_end_latency_seconds", "telemetry_supervisor_restarts_total"] {
            #expect(exposed.contains(name), "\(name) is not exposed")
        }

        let rules = "\(Self.repository)/Deploy/prometheus/alerts.yml"
        let (rulesCode, rulesOutput) = try await runTool("/usr/bin/promtool", ["check", "rules", rules])
        #expect(rulesCode == 0, "\(rulesOutput)")
        for file in [rules, "\(Self.repository)/Deploy/grafana/dashboard.json"] {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            let regex = try NSRegularExpression(pattern: "telemetry_[a-z0-9_]+")
            var named = Set<String>()
            for match in regex.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                var name = (text as NSString).substring(with: match.range)
                for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) && !exposed.contains(name) {
                    name = String(name.dropLast(suffix.count))
                }
                named.insert(name)
            }
            #expect(!named.isEmpty)
            let missing = named.subtracting(exposed)
            #expect(missing.isEmpty, "\(file) names metrics no daemon exposes: \(missing.sorted())")
        }
        #expect(await query.stop() == 0)
        #expect(await hub.stop() == 0)
        #expect(await processor.stop() == 0)
    }
}
