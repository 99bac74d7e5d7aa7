import Foundation
import Redis
import TelemetryCore
import Testing

/// Thresholds and ranges for a metric that is not built in: declared with `metrics.names`, its
/// `thresholds.<name>.*` and `validation.<name>.*` work like temperature's.
@Suite("Declared metrics (real Redis and PostgreSQL)", .serialized)
struct DeclaredMetricTests {
    @Test("co2_ppm declared with a unit, a high threshold and a range: a breach gives an alert, a value outside the range is dead-lettered as out_of_range, the rest stored")
    func co2() async throws {
        let deployment = try Deployment()
        let redis = try TestServers.redis()
        let device = "\(deployment.prefix)_room"
        let base = wallClockMicros() - 60_000_000
        let values: [Double] = [420, 1500, 9000, 800]
        var commands: [RedisCommand] = []
        for (i, value) in values.enumerated() {
            let json = #"{"id": "co2-\#(i)", "type": "telemetry.alert", "payload": {"device_id": "\#(device)", "timestamp": "\#(Timestamp.formatRFC3339(micros: base + Int64(i) * 1_000_000))", "co2_ppm": \#(value)}}"#
            commands.append(RedisCommand(["RPUSH", "\(deployment.prefix):tasks", json]))
        }
        for reply in try redis.pipeline(commands) { #expect(reply.int != nil) }
        let processor = try Daemon("telemetry-processor", name: "declared-metric-processor", environment: deployment.processorEnvironment(extra: [
            "METRICS_NAMES": "co2_ppm", "METRICS_CO2_PPM_UNIT": "ppm", "THRESHOLDS_CO2_PPM_HIGH": "1000", "THRESHOLDS_CO2_PPM_SEVERITY": "warning",
            "VALIDATION_CO2_PPM_MIN": "0", "VALIDATION_CO2_PPM_MAX": "5000",
        ]))
        let db = deployment.database
        let stored = try await eventually(timeout: .seconds(60)) { try db.scalar("SELECT count(*) FROM samples") >= 3 }
        #expect(stored, "\(processor.tail)")
        try await Task.sleep(for: .milliseconds(500))
        #expect(try db.scalar("SELECT count(*) FROM readings WHERE metric = 'co2_ppm' AND unit = 'ppm'") == 3)
        #expect(try db.scalar("SELECT count(*) FROM readings WHERE metric = 'co2_ppm' AND value = 9000") == 0)
        #expect(try db.scalar("""
            SELECT count(*) FROM alerts a JOIN metrics m ON m.id = a.metric_id
            WHERE m.name = 'co2_ppm' AND a.rule = 'threshold_high' AND a.value = 1500 AND a.severity = 'warning'
            """) == 1)
        #expect(try db.scalar("SELECT count(*) FROM alerts a JOIN metrics m ON m.id = a.metric_id WHERE m.name = 'co2_ppm'") == 1)
        let letters = try await eventually(timeout: .seconds(10)) { try deployment.deadLetters().count == 1 }
        #expect(letters)
        let deadLetters = try deployment.deadLetters()
        let reason = deadLetters.first.map { String(decoding: $0.fields["reason"] ?? [], as: UTF8.self) }
        #expect(reason == "out_of_range", "\(deadLetters)")
        #expect(await processor.stop() == 0)
    }
}
