import Foundation
import Postgres
import Synchronization
import Testing
import TelemetryCore

/// Device silence and alert delivery (Docs/alerting.md) against Debian's Prometheus
/// Alertmanager and a webhook receiver written for the test (it checks the HMAC signatures).
@Suite("Device silence and alert delivery (real Alertmanager)", .serialized)
struct AlertDeliveryTests {
    /// A `prometheus-alertmanager` of the test's own on a free loopback port.
    final class Alertmanager {
        let port: Int
        let process = Process()
        init(directory: String) throws {
            let binary = "/usr/bin/prometheus-alertmanager"
            guard FileManager.default.isExecutableFile(atPath: binary) else {
                throw HarnessError("prometheus-alertmanager is not installed: run `make deps-test`")
            }
            port = try freePort()
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try """
                route: { receiver: sink, group_wait: 1s, group_interval: 1s, repeat_interval: 1h }
                receivers: [ { name: sink } ]
                """.write(toFile: "\(directory)/alertmanager.yml", atomically: true, encoding: .utf8)
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["--config.file=\(directory)/alertmanager.yml", "--storage.path=\(directory)/data",
                                 "--web.listen-address=127.0.0.1:\(port)", "--cluster.listen-address="]
            _ = FileManager.default.createFile(atPath: "\(directory)/alertmanager.log", contents: nil)
            let log = FileHandle(forWritingAtPath: "\(directory)/alertmanager.log")
            process.standardOutput = log
            process.standardError = log
            try process.run()
        }

        /// The alerts Alertmanager holds with `alertname` = silence, as (device, state, endsAt).
        func silences() async throws -> [(device: String, state: String, endsAt: String)] {
            let (_, text) = try await runTool("/usr/bin/curl", ["-s", "-m", "5", "http://127.0.0.1:\(port)/api/v2/alerts"])
            let alerts = (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]]) ?? []
            return alerts.compactMap { alert in
                let labels = alert["labels"] as? [String: String] ?? [:]
                guard labels["alertname"] == "silence", let device = labels["device"] else { return nil }
                return (device, (alert["status"] as? [String: Any])?["state"] as? String ?? "", alert["endsAt"] as? String ?? "")
            }
        }

        deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
    }

    /// The webhook receiver (Tests/Alerting/webhook_receiver.py), started and stopped at will.
    final class Receiver {
        let port: Int
        let log: String
        var process: Process?
        init(directory: String) throws {
            port = try freePort()
            log = "\(directory)/webhook.jsonl"
        }
        func start() throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            process.arguments = [TestServers.root.appendingPathComponent("Tests/Alerting/webhook_receiver.py").path, String(port), "s3cret", log]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            _ = output.fileHandleForReading.readData(ofLength: 8)
            self.process = process
        }
        var records: [[String: Any]] {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
        }
        deinit { if let process, process.isRunning { kill(process.processIdentifier, SIGKILL) } }
    }

    static func post(_ port: Int, _ devices: [String]) async throws {
        let now = Timestamp.formatRFC3339(micros: wallClockMicros())
        let body = devices.map { "{\"device_id\":\"\($0)\",\"timestamp\":\"\(now)\",\"temperature\":21.5}" }.joined(separator: "\n")
        let (_, output) = try await runTool("/usr/bin/curl", ["-s", "-i", "-m", "10", "-X", "POST", "--data-binary", body, "http://127.0.0.1:\(port)/v1/samples"])
        #expect(output.hasPrefix("HTTP/1.1 202"), "\(output.prefix(300))")
    }

    /// Posts a reading of each of `devices` every half second for `seconds`.
    static func report(_ port: Int, _ devices: [String], seconds: Double) async throws {
        let end = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < end {
            try await post(port, devices)
            try await Task.sleep(for: .milliseconds(500))
        }
    }

    @Test("a device that stops reporting raises one silence alert, delivered once to Alertmanager and to a signed webhook that was down at first, and a resolution when it resumes; a stalled pipeline makes no device silent")
    func silenceDelivered() async throws {
        let deployment = try Deployment()
        let directory = "\(TestServers.logDirectory)/../alerting-\(deployment.prefix)"
        let alertmanager = try Alertmanager(directory: directory)
        let receiver = try Receiver(directory: directory)
        let stall = "\(directory)/stall"
        let config = "\(directory)/processor.yaml"
        try """
            health:
              interval_s: 1
              min_silence_s: 1
              groups: [fast]
              group:
                fast: { devices: ["\(deployment.prefix)_dev*"], interval_s: 1, factor: 3 }
            alerting:
              alertmanager: { url: "http://127.0.0.1:\(alertmanager.port)" }
              resend_s: 2
              backoff_max_s: 2
              webhooks: [ops]
              webhook:
                ops: { url: "http://127.0.0.1:\(receiver.port)/hook", secret: s3cret }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let processor = try Daemon("telemetry-processor", name: "alerting-processor", environment: deployment.processorEnvironment(extra: ["TELEMETRY_FAULT_STALL_FILE": stall]),
                                   arguments: ["--config", config])
        let hub = try Daemon("telemetry-hub", name: "alerting-hub", environment: [
            "REDIS_KEY_PREFIX": deployment.prefix, "SPOOL_DIR": deployment.spoolDirectory, "INGEST_FLUSH_INTERVAL_MS": "5"])
        let port = try await hub.httpPort()
        let quiet = "\(deployment.prefix)_dev1", steady = "\(deployment.prefix)_dev2"
        let db = deployment.database
        func silences() throws -> Int { try db.scalar("SELECT count(*) FROM alerts WHERE rule = 'silence'") }

        // Both devices report every half second in the background, dev2 throughout.
        let reporting = Mutex<Set<String>>([quiet, steady])
        let reporter = Task {
            while !Task.isCancelled {
                let devices = reporting.withLock { $0 }.sorted()
                if !devices.isEmpty { try? await Self.post(port, devices) }
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
        defer { reporter.cancel() }
        try await Task.sleep(for: .seconds(3))
        // The pipeline stalls for 6 s (twice the threshold) while both devices report: the
        // database hears nothing from them, and no device is called silent.
        _ = FileManager.default.createFile(atPath: stall, contents: Data())
        try await Task.sleep(for: .seconds(6))
        // The scenario bites: the database's newest reading is past the threshold by the clock.
        #expect(try db.scalar("SELECT extract(epoch FROM now() - max(ts))::int FROM latest_values") >= 4)
        #expect(try silences() == 0, "a stalled pipeline made devices look silent:\n\(processor.tail)")
        try FileManager.default.removeItem(atPath: stall)
        #expect(try await eventually(timeout: .seconds(30)) { try deployment.pendingEntries() == 0 })
        try await Task.sleep(for: .seconds(2))
        #expect(try silences() == 0)

        // dev1 goes quiet (dev2 does not); the webhook receiver is down.
        _ = reporting.withLock { $0.remove(quiet) }
        #expect(try await eventually(timeout: .seconds(20)) { try silences() == 1 }, "\(processor.tail)")
        #expect(try db.scalar("SELECT count(*) FROM alerts a JOIN devices d ON d.id = a.device_id WHERE a.rule = 'silence' AND d.name = '\(quiet)'") == 1)
        let firingInAM = try await eventually(timeout: .seconds(20)) { try await alertmanager.silences().contains { $0.device == quiet && $0.state == "active" } }
        let heldWhileFiring = try await alertmanager.silences()
        #expect(firingInAM, "\(heldWhileFiring)")
        try await Task.sleep(for: .seconds(3))
        #expect(receiver.records.isEmpty)
        try receiver.start()
        #expect(try await eventually(timeout: .seconds(20)) { receiver.records.count == 1 }, "\(processor.tail)")

        // dev1 reports again: resolved, in the database, at Alertmanager and at the webhook.
        _ = reporting.withLock { $0.insert(quiet) }
        #expect(try await eventually(timeout: .seconds(20)) { try db.scalar("SELECT count(*) FROM alerts WHERE rule = 'silence' AND resolved_at IS NOT NULL") == 1 })
        #expect(try await eventually(timeout: .seconds(20)) { receiver.records.count == 2 }, "\(receiver.records)")
        let resolvedInAM = try await eventually(timeout: .seconds(20)) {
            try await alertmanager.silences().allSatisfy { $0.device != quiet || $0.state != "active" }
        }
        let heldWhenResolved = try await alertmanager.silences()
        #expect(resolvedInAM, "\(heldWhenResolved)")
        try await Task.sleep(for: .seconds(3))
        let records = receiver.records
        #expect(records.count == 2 && records.allSatisfy { $0["signature_valid"] as? Bool == true }, "\(records)")
        let bodies = records.compactMap { $0["body"] as? [String: Any] }
        #expect(bodies.map { $0["kind"] as? String } == ["firing", "resolved"] && Set(bodies.compactMap { $0["id"] as? String }).count == 2)
        #expect(bodies.allSatisfy { $0["device"] as? String == quiet && $0["rule"] as? String == "silence" })
        #expect(records.map { $0["event_id"] as? String } == bodies.map { $0["id"] as? String })
        #expect(try silences() == 1, "one alert for one silence")
        let (_, metrics) = try await processor.get("/metrics")
        #expect(metrics.contains("telemetry_processor_silence_alerts_total 1") && metrics.contains("telemetry_processor_silence_resolved_total 1"), "\(metrics.split(separator: "\n").filter { $0.contains("silence") || $0.contains("alert_deliver") })")
        // Its last request ends before the hub stops (cancelling does not stop a request in flight).
        reporter.cancel()
        await reporter.value
        #expect(await hub.stop() == 0)
        #expect(await processor.stop() == 0)
    }

    @Test("data quality per device and metric: completeness against the group's interval, lateness percentiles and refusals by reason, in the table and (the ten worst at most) in /metrics")
    func quality() async throws {
        let deployment = try Deployment()
        let directory = "\(TestServers.logDirectory)/../quality-\(deployment.prefix)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let config = "\(directory)/processor.yaml"
        try """
            health:
              interval_s: 1
              quality_interval_s: 1
              groups: [half]
              group:
                half: { devices: ["\(deployment.prefix)_dev*"], interval_s: 0.5 }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let processor = try Daemon("telemetry-processor", name: "quality-processor", environment: deployment.processorEnvironment(), arguments: ["--config", config])
        let hub = try Daemon("telemetry-hub", name: "quality-hub", environment: [
            "REDIS_KEY_PREFIX": deployment.prefix, "SPOOL_DIR": deployment.spoolDirectory, "INGEST_FLUSH_INTERVAL_MS": "5"])
        let port = try await hub.httpPort()
        let full = "\(deployment.prefix)_dev1", half = "\(deployment.prefix)_dev2"
        // dev1 every half second (as expected), dev2 every second (half of it), 15 devices
        // refused once each (out of range): more than the ten series /metrics shows.
        let stamp = Timestamp.formatRFC3339(micros: wallClockMicros())
        let refused = (0..<15).map { "{\"device_id\":\"\(deployment.prefix)_bad\($0)\",\"timestamp\":\"\(stamp)\",\"temperature\":500}" }.joined(separator: "\n")
        let (_, answer) = try await runTool("/usr/bin/curl", ["-s", "-i", "-m", "10", "-X", "POST", "--data-binary", refused, "http://127.0.0.1:\(port)/v1/samples"])
        #expect(answer.hasPrefix("HTTP/1.1 202"))
        // Reporting goes on while the test looks (the expected count grows with the time covered).
        let reporter = Task {
            var tick = 0
            while !Task.isCancelled {
                try? await Self.post(port, tick % 2 == 0 ? [full, half] : [full])
                tick += 1
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
        defer { reporter.cancel() }
        try await Task.sleep(for: .seconds(6))
        let db = deployment.database
        func completeness(_ device: String) throws -> Double {
            Double(try db.connect().query("""
                SELECT q.completeness FROM data_quality q JOIN devices d ON d.id = q.device_id
                WHERE d.name = $1 ORDER BY q.hour DESC LIMIT 1
                """, [device]).rows.first?[0] ?? "") ?? -1
        }
        let computed = try await eventually(timeout: .seconds(20)) { try completeness(full) > 0.6 && completeness(half) > 0.2 }
        let (c1, c2) = (try completeness(full), try completeness(half))
        #expect(computed && c1 > c2 * 1.4 && c2 < 0.75, "completeness \(c1) and \(c2)")
        #expect(try db.scalar("SELECT count(*) FROM data_quality WHERE lateness_p50_s >= 0 AND lateness_p99_s >= lateness_p50_s") >= 2)
        #expect(try await eventually(timeout: .seconds(20)) {
            try db.scalar("SELECT coalesce(sum(rejected), 0) FROM data_quality_rejections WHERE reason = 'out_of_range'") == 15
        })
        let shown = try await eventually(timeout: .seconds(20)) {
            let metrics = try await processor.get("/metrics").1
            return metrics.contains("telemetry_processor_quality_rejected_samples{reason=\"out_of_range\"} 15")
                && metrics.contains("telemetry_processor_quality_completeness_worst_ratio{device=\"\(half)\"")
        }
        let lines = try await processor.get("/metrics").1.split(separator: "\n").filter { $0.hasPrefix("telemetry_processor_quality") }
        #expect(shown, "\(lines)")
        #expect(lines.filter { $0.hasPrefix("telemetry_processor_quality_rejected_worst_samples{") }.count == 10, "bounded: \(lines)")
        // Its last request ends before the hub stops (cancelling does not stop a request in flight).
        reporter.cancel()
        await reporter.value
        #expect(await hub.stop() == 0)
        #expect(await processor.stop() == 0)
    }

    @Test("an alert whose transaction commits after a later alert's is still delivered (events commit out of id order), each once, under a UUID")
    func outOfOrderCommits() async throws {
        let deployment = try Deployment()
        let directory = "\(TestServers.logDirectory)/../outbox-\(deployment.prefix)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let receiver = try Receiver(directory: directory)
        try receiver.start()
        let config = "\(directory)/processor.yaml"
        try """
            health: { enabled: false }
            alerting:
              webhooks: [ops]
              webhook:
                ops: { url: "http://127.0.0.1:\(receiver.port)/hook", secret: s3cret }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let processor = try Daemon("telemetry-processor", name: "outbox-processor", environment: deployment.processorEnvironment(), arguments: ["--config", config])
        let db = deployment.database
        #expect(try await eventually(timeout: .seconds(60)) { try db.scalar("SELECT count(*) FROM alert_targets WHERE target = 'ops'") == 1 }, "\(processor.tail)")
        let first = try db.connect(), second = try db.connect()
        let device = try first.execute("INSERT INTO devices (name) VALUES ('\(deployment.prefix)_d') RETURNING id").rows.first?[0] ?? ""
        try first.execute("BEGIN")
        let early = try first.execute("""
            INSERT INTO alerts (device_id, metric_id, ts, value, rule, severity) VALUES (\(device), 1, now(), 99, 'threshold_high', 'critical') RETURNING id
            """).rows.first?[0] ?? ""
        let late = try second.execute("""
            INSERT INTO alerts (device_id, metric_id, ts, value, rule, severity) VALUES (\(device), 1, now() + interval '1 second', 98, 'threshold_high', 'critical') RETURNING id
            """).rows.first?[0] ?? ""
        #expect(try await eventually(timeout: .seconds(20)) { receiver.records.count == 1 }, "\(processor.tail)")
        try await Task.sleep(for: .seconds(2))
        try first.execute("COMMIT")
        #expect(try await eventually(timeout: .seconds(20)) { receiver.records.count == 2 }, "\(receiver.records)")
        try await Task.sleep(for: .seconds(2))
        let bodies = receiver.records.compactMap { $0["body"] as? [String: Any] }
        #expect(bodies.map { "\($0["alert_id"] ?? "")" } == [late, early], "\(bodies)")
        let ids = bodies.compactMap { $0["id"] as? String }
        #expect(Set(ids).count == 2 && ids.allSatisfy { UUID(uuidString: $0) != nil }, "\(ids)")
        #expect(await processor.stop() == 0)
    }
}
