import Foundation
import Postgres
import Redis
import TelemetryCore
import Testing

/// Seed-format tasks pushed by a plain Redis client (`RPUSH telemetry:tasks '<json>'`).
@Suite("Compatibility ingress (real Redis and PostgreSQL)", .serialized)
struct CompatIngressTests {
    static func task(_ i: Int, device: String, micros: Int64, temperature: Double, kind: TelemetryTask.Kind, priority: String?) -> String {
        let priorityField = priority.map { #", "priority": "\#($0)""# } ?? ""
        return #"{"id": "task-\#(i)", "type": "\#(kind.rawValue)", "payload": {"device_id": "\#(device)", "timestamp": "\#(Timestamp.formatRFC3339(micros: micros))", "temperature": \#(temperature), "humidity": \#(40 + Double(i % 20)), "pressure": \#(1000 + Double(i % 30)), "raw_data": "opaque"}\#(priorityField), "max_retries": 2}"#
    }

    @Test("1 000 tasks give exactly their rows; a breaching temperature gives an alert; a dead consumer's list is re-queued")
    func thousandTasks() async throws {
        let deployment = try Deployment()
        let redis = try TestServers.redis()
        let base = wallClockMicros() - 3_600_000_000
        let kinds = TelemetryTask.Kind.allCases
        let priorities: [String?] = [nil, "LOW", "NORMAL", "HIGH", "CRITICAL"]
        var commands: [RedisCommand] = []
        for i in 0..<1000 {
            let temperature = i == 500 ? 80.0 : 20 + Double(i % 10) * 0.5
            let kind: TelemetryTask.Kind = i == 500 ? .alert : kinds[i % kinds.count]
            let json = Self.task(i, device: "\(deployment.prefix)_dev_\(i % 50)", micros: base + Int64(i) * 1_000_000,
                                 temperature: temperature, kind: kind, priority: priorities[i % priorities.count])
            commands.append(RedisCommand(["RPUSH", "\(deployment.prefix):tasks", json]))
        }
        // Ten tasks stranded in the processing list of a consumer that died (no heartbeat key).
        for i in 1000..<1010 {
            let json = Self.task(i, device: "\(deployment.prefix)_ghost", micros: base + Int64(i) * 1_000_000, temperature: 21, kind: .store, priority: nil)
            commands.append(RedisCommand(["RPUSH", "\(deployment.prefix):tasks:processing:ghost", json]))
        }
        for reply in try redis.pipeline(commands) { #expect(reply.int != nil) }

        let processor = try Daemon("telemetry-processor", name: "compat-processor",
                                   environment: deployment.processorEnvironment(extra: ["LEASE_TTL_MS": "1000", "LEASE_RENEW_MS": "200"]))
        let db = deployment.database
        let expected = 1010 * 3
        let done = try await eventually(timeout: .seconds(90)) { try db.scalar("SELECT count(*) FROM samples") >= expected }
        let rows = try db.scalar("SELECT count(*) FROM samples")
        #expect(done, "rows: \(rows); processor:\n\(processor.tail)")
        try await Task.sleep(for: .milliseconds(500))
        #expect(try db.scalar("SELECT count(*) FROM samples") == expected)
        #expect(try db.aggregateMismatches() == 0)
        #expect(try db.scalar("""
            SELECT count(*) FROM alerts a JOIN devices d ON d.id = a.device_id JOIN metrics m ON m.id = a.metric_id
            WHERE d.name = '\(deployment.prefix)_dev_0' AND m.name = 'temperature' AND a.rule = 'threshold_high' AND a.value = 80
            """) == 1)
        #expect(try db.scalar("SELECT count(*) FROM ingested_batches") == 1010)
        let emptied = try await eventually(timeout: .seconds(10)) {
            try redis.send(["LLEN", "\(deployment.prefix):tasks"]).int == 0
                && redis.send(["LLEN", "\(deployment.prefix):tasks:processing:p1"]).int == 0
                && redis.send(["EXISTS", "\(deployment.prefix):tasks:processing:ghost"]).int == 0
        }
        #expect(emptied, "task lists not empty")
        #expect(try redis.send(["XLEN", "\(deployment.prefix):dlq"]).int ?? 0 == 0)
        #expect(await processor.stop() == 0)
    }

    @Test("undecodable tasks go to the dead letters with their reason; good ones around them are stored")
    func badTasks() async throws {
        let deployment = try Deployment()
        let redis = try TestServers.redis()
        let now = wallClockMicros()
        let bad: [(String, String)] = [
            ("{not json", "malformed_json"),
            (#"{"id": "b1", "type": "telemetry.nope", "payload": {"device_id": "d", "timestamp": "2025-12-26T10:30:00Z", "t": 1}}"#, "unknown_type"),
            (#"{"id": "b2", "type": "telemetry.store", "payload": {"timestamp": "2025-12-26T10:30:00Z", "t": 1}}"#, "missing_field"),
            (Self.task(3, device: "\(deployment.prefix)_d", micros: now + 3_600_000_000, temperature: 20, kind: .store, priority: nil), "timestamp_future"),
            (Self.task(4, device: "\(deployment.prefix)_d", micros: 0, temperature: 20, kind: .store, priority: nil), "timestamp_too_old"),
            (Self.task(5, device: "\(deployment.prefix)_d", micros: now, temperature: 500, kind: .store, priority: nil), "out_of_range"),
        ]
        var commands: [RedisCommand] = bad.map { RedisCommand(["RPUSH", "\(deployment.prefix):tasks", $0.0]) }
        commands.append(RedisCommand(["RPUSH", "\(deployment.prefix):tasks",
                                      Self.task(6, device: "\(deployment.prefix)_good", micros: now - 1_000_000, temperature: 20, kind: .analyze, priority: nil)]))
        _ = try redis.pipeline(commands)
        let processor = try Daemon("telemetry-processor", name: "compat-bad-processor", environment: deployment.processorEnvironment())
        let dlqKey = "\(deployment.prefix):dlq"
        #expect(try await eventually(timeout: .seconds(60)) { (try redis.send(["XLEN", dlqKey]).int ?? 0) >= bad.count },
                "dead letters missing:\n\(processor.tail)")
        let entries = try redis.send(["XRANGE", dlqKey, "-", "+"]).array ?? []
        var reasons: [String] = []
        for entry in entries {
            let fields = entry.array?[1].array ?? []
            var map: [String: String] = [:]
            var i = 0
            while i + 1 < fields.count { map[fields[i].string ?? ""] = fields[i + 1].string; i += 2 }
            reasons.append(map["reason"] ?? "?")
            #expect(map["source"] == "compat")
            #expect(map["message"]?.isEmpty == false)
            #expect(map["payload"]?.isEmpty == false)
        }
        #expect(reasons.sorted() == bad.map(\.1).sorted())
        // The valid temperature of task 5's siblings is stored: humidity and pressure were in range.
        #expect(try await eventually(timeout: .seconds(30)) { try deployment.database.scalar("SELECT count(*) FROM samples") == 3 + 2 })
        #expect(processor.isRunning)
        #expect(await processor.stop() == 0)
    }
}
