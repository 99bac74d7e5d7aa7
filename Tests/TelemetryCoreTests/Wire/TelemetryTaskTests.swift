import TelemetryCore
import Testing

@Suite("Seed task codec")
struct TelemetryTaskTests {
    static let designExample = """
        {"id": "550e8400-e29b-41d4-a716-446655440000",
         "type": "telemetry.analyze",
         "payload": {"device_id": "sensor_001", "timestamp": "2025-12-26T10:30:00Z",
                     "temperature": 23.5, "humidity": 65.2, "pressure": 1013.25,
                     "raw_data": "base64..."},
         "priority": "NORMAL", "max_retries": 3}
        """

    @Test("accepts the exact example of Docs/architecture.md")
    func designExample() throws {
        let task = try TelemetryTaskCodec.decode(Array(Self.designExample.utf8))
        #expect(task.id == "550e8400-e29b-41d4-a716-446655440000")
        #expect(task.kind == .analyze)
        #expect(task.deviceID == "sensor_001")
        #expect(task.timestampMicros == Timestamp.parseRFC3339("2025-12-26T10:30:00Z"))
        #expect(task.timestampMicros == 1_766_745_000_000_000)
        #expect(task.metrics == [MetricValue(name: "humidity", value: 65.2), MetricValue(name: "pressure", value: 1013.25),
                                 MetricValue(name: "temperature", value: 23.5)])
        #expect(task.rawData == "base64...")
        #expect(task.priority == .normal)
        #expect(task.maxRetries == 3)
    }

    @Test("a missing priority is NORMAL and epoch milliseconds are accepted")
    func defaults() throws {
        let task = try TelemetryTaskCodec.decode(Array(#"{"id":"a","type":"telemetry.store","payload":{"device_id":"d","timestamp":1766745000123,"co2":410}}"#.utf8))
        #expect(task.priority == .normal)
        #expect(task.maxRetries == nil)
        #expect(task.timestampMicros == 1_766_745_000_123_000)
        #expect(task.metrics == [MetricValue(name: "co2", value: 410)])
    }

    @Test("rejects malformed tasks with typed reasons", arguments: [
        (#"{"id": "x", "type": "telemetry.analyze", "payload": {"device_id": "d""#, "malformed_json"),
        (#"[1, 2, 3]"#, "malformed_json"),
        (#"{"type": "telemetry.analyze", "payload": {"device_id": "d", "timestamp": "2025-12-26T10:30:00Z", "t": 1}}"#, "missing_field"),
        (#"{"id": 5, "type": "telemetry.analyze", "payload": {"device_id": "d", "timestamp": "2025-12-26T10:30:00Z", "t": 1}}"#, "invalid_field"),
        (#"{"id": "x", "type": "telemetry.explode", "payload": {"device_id": "d", "timestamp": "2025-12-26T10:30:00Z", "t": 1}}"#, "unknown_type"),
        (#"{"id": "x", "type": "telemetry.analyze"}"#, "missing_field"),
        (#"{"id": "x", "type": "telemetry.analyze", "payload": {"timestamp": "2025-12-26T10:30:00Z", "t": 1}}"#, "missing_field"),
        (#"{"id": "x", "type": "telemetry.analyze", "payload": {"device_id": "d", "t": 1}}"#, "missing_field"),
        (#"{"id": "x", "type": "telemetry.analyze", "payload": {"device_id": "d", "timestamp": "yesterday", "t": 1}}"#, "invalid_field"),
        (#"{"id": "x", "type": "telemetry.analyze", "payload": {"device_id": "d", "timestamp": "2025-12-26T10:30:00Z"}}"#, "missing_field"),
        (#"{"id": "x", "type": "telemetry.analyze", "payload": {"device_id": "d", "timestamp": "2025-12-26T10:30:00Z", "temperature": "hot"}}"#, "invalid_field"),
        (#"{"id": "x", "type": "telemetry.analyze", "payload": {"device_id": "d", "timestamp": "2025-12-26T10:30:00Z", "temperature": "NaN"}}"#, "non_finite"),
        (#"{"id": "x", "type": "telemetry.analyze", "payload": {"device_id": "d", "timestamp": "2025-12-26T10:30:00Z", "t": true}}"#, "invalid_field"),
        (#"{"id": "x", "type": "telemetry.analyze", "priority": "URGENT", "payload": {"device_id": "d", "timestamp": "2025-12-26T10:30:00Z", "t": 1}}"#, "invalid_field"),
        (#"{"id": "x", "type": "telemetry.analyze", "max_retries": -1, "payload": {"device_id": "d", "timestamp": "2025-12-26T10:30:00Z", "t": 1}}"#, "invalid_field"),
        (#"{"id": "x", "type": "telemetry.analyze", "version": 9, "payload": {"device_id": "d", "timestamp": "2025-12-26T10:30:00Z", "t": 1}}"#, "unsupported_version"),
        (#"{"id": "x", "type": "telemetry.analyze", "payload": {"device_id": "", "timestamp": "2025-12-26T10:30:00Z", "t": 1}}"#, "invalid_field"),
    ])
    func rejects(json: String, reason: String) {
        #expect {
            _ = try TelemetryTaskCodec.decode(Array(json.utf8))
        } throws: { error in
            (error as? TelemetryError)?.code.description == reason
        }
    }

    @Test("rejects invalid UTF-8 and oversized tasks")
    func bytes() {
        var invalid = Array(#"{"id": "x", "type": "telemetry.analyze", "payload": {"device_id": "d"#.utf8)
        invalid += [0xff, 0xfe]
        invalid += Array(#"", "timestamp": "2025-12-26T10:30:00Z", "t": 1}}"#.utf8)
        #expect(throws: TelemetryError.self) { try TelemetryTaskCodec.decode(invalid) }
        do { _ = try TelemetryTaskCodec.decode(invalid) } catch { #expect(error.code == .invalidUTF8) }
        let big = [UInt8](repeating: 0x20, count: TelemetryTaskCodec.defaultMaxBytes + 1)
        do { _ = try TelemetryTaskCodec.decode(big); Issue.record("accepted an oversized task") } catch { #expect(error.code == .tooLarge) }
    }
}

/// Inputs at their extremes (issue 14): none of them may trap, each gets its reason code.
@Suite("Seed task codec, hostile input")
struct TelemetryTaskHostileInputTests {
    static func task(fields: Int, name: (Int) -> String = { "m\($0)" }) -> [UInt8] {
        var json = #"{"id":"t1","type":"telemetry.store","payload":{"device_id":"d1","timestamp":1766745000123"#
        for i in 0..<fields { json += ",\(PrintableName(name(i))):\(i)" }
        return Array((json + "}}").utf8)
    }

    @Test("a task with more numeric fields than validation.max_fields is too_large, 65 537 fields included", arguments: [1025, 65_537])
    func tooManyFields(fields: Int) {
        #expect(throws: TelemetryError.self) { try TelemetryTaskCodec.decode(Self.task(fields: fields), maxBytes: 1 << 24) }
        do {
            _ = try TelemetryTaskCodec.decode(Self.task(fields: fields), maxBytes: 1 << 24)
        } catch {
            #expect(error.code == .tooLarge)
        }
        #expect((try? TelemetryTaskCodec.decode(Self.task(fields: 1024), maxBytes: 1 << 24))?.metrics.count == 1024)
        #expect((try? TelemetryTaskCodec.decode(Self.task(fields: 10), maxFields: 10))?.metrics.count == 10)
        #expect((try? TelemetryTaskCodec.decode(Self.task(fields: 11), maxFields: 10)) == nil)
    }

    @Test("a NUL, a newline or DEL in a metric name or device id is invalid_field", arguments: ["a\u{0}b", "a\nb", "a\u{7f}", "\u{85}x"])
    func controlCharacters(name: String) throws {
        do {
            _ = try TelemetryTaskCodec.decode(Self.task(fields: 1, name: { _ in name }))
            Issue.record("accepted \(PrintableName(name))")
        } catch {
            #expect(error.code == .invalidField)
            #expect(!error.message.contains("\u{0}"))
        }
        let device = #"{"id":"t1","type":"telemetry.store","payload":{"device_id":\#(PrintableName(name)),"timestamp":1766745000123,"t":1}}"#
        #expect(throws: TelemetryError.self) { try TelemetryTaskCodec.decode(Array(device.utf8)) }
        #expect(ValidationPolicy.containsControlCharacters(name))
        #expect(!ValidationPolicy.containsControlCharacters("température_°C"))
    }

    @Test("a task id with a NUL or another control character is invalid_field (libpq would cut it)")
    func controlCharacterInID() {
        let json = #"{"id":"a\u0000b","type":"telemetry.store","payload":{"device_id":"d","timestamp":1766745000123,"t":1}}"#
        do {
            _ = try TelemetryTaskCodec.decode(Array(json.utf8))
            Issue.record("accepted a NUL in the id")
        } catch {
            #expect(error.code == .invalidField)
        }
    }
}
