@testable import Hub
import TelemetryCore
import Testing

/// Topic filters and payload formats of MQTT ingest (Docs/mqtt.md).
@Suite("MQTT subscriptions and payloads")
struct MQTTSubscriptionTests {
    @Test("filters match as MQTT says: + one level, # the rest (and the parent), $ topics not by wildcards, shared subscriptions by their filter")
    func matching() throws {
        let value = try MQTTSubscription(parsing: "telemetry/+/+ value")
        #expect(value.captures("telemetry/s1/temperature") == ["s1", "temperature"])
        #expect(value.captures("telemetry/s1") == nil && value.captures("telemetry/s1/t/x") == nil && value.captures("other/s1/t") == nil)
        let all = try MQTTSubscription(parsing: "plant/# line_protocol")
        #expect(all.captures("plant") == [] && all.captures("plant/a/b") == [])
        #expect(try MQTTSubscription(parsing: "# json").captures("$SYS/broker/load") == nil)
        let shared = try MQTTSubscription(parsing: "$share/hubs/telemetry/+ json")
        #expect(shared.filter == "$share/hubs/telemetry/+" && shared.captures("telemetry/s9") == ["s9"])
        for bad in ["telemetry/+ value", "a/#/b json", "a/b+ json", "a json extra", "a csv", "$share/g json", "$share/+/a json"] {
            #expect(throws: MQTTSubscription.Invalid.self, "\(bad)") { try MQTTSubscription(parsing: bad) }
        }
    }

    @Test("payloads: a number or {value, ts} per topic, seed JSON with the topic's device and arrival time, line protocol; bad ones name their reason")
    func payloads() throws {
        let value = try MQTTSubscription(parsing: "telemetry/+/+ value")
        func read(_ payload: String, _ subscription: MQTTSubscription, topic: String) -> MQTTMessageReadings {
            MQTTMessageReadings.read(topic: topic, payload: Array(payload.utf8), subscription: subscription, captures: subscription.captures(topic) ?? [],
                                     mapping: LineProtocolMapping(), arrivalMicros: 5_000_000, maxFields: 16)
        }
        let plain = read(" 21.5 ", value, topic: "telemetry/s1/temperature")
        #expect(plain.readings == [SampleReading(deviceID: "s1", timestampMicros: 5_000_000, metrics: [MetricValue(name: "temperature", value: 21.5)])])
        let stamped = read(#"{"value": true, "ts": "2026-12-04T00:00:00Z"}"#, value, topic: "telemetry/s1/door")
        #expect(stamped.readings.first?.metrics.first?.value == 1 && stamped.readings.first?.timestampMicros == Timestamp.parseRFC3339("2026-12-04T00:00:00Z"))
        for (bad, reason) in [("abc", "malformed_json"), ("NaN", "malformed_json"), (#"{"value":"x"}"#, "invalid_field"), ("[1]", "invalid_field"), ("1e999", "malformed_json")] {
            #expect(read(bad, value, topic: "telemetry/s1/t").rejection?.code.description == reason, "\(bad)")
        }
        #expect(read("1", value, topic: "telemetry/\u{1}/t").rejection?.code == .invalidField)
        let json = try MQTTSubscription(parsing: "telemetry/+ json")
        let seed = read(#"[{"temperature": 20, "raw_data": "x"}, {"device_id": "other", "timestamp": 1000, "h": 1}]"#, json, topic: "telemetry/s2")
        #expect(seed.readings.map(\.deviceID) == ["s2", "other"] && seed.readings.map(\.timestampMicros) == [5_000_000, 1_000_000])
        let lines = try MQTTSubscription(parsing: "lp/# line_protocol")
        let mixed = read("m,device_id=a f=1 1000\nm,device_id=a f=x 2000\n", lines, topic: "lp/x")
        #expect(mixed.readings.count == 1 && mixed.rejection?.message.contains("line 2") == true)
        #expect(read("# nothing\n", lines, topic: "lp/x").rejection?.code == .missingField)
    }
}
