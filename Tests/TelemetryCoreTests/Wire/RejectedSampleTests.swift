import TelemetryCore
import Testing

/// The wire contracts shared by the hub, the processor and telemetryctl.
@Suite("Wire contracts: rejected samples")
struct RejectedSampleTests {
    @Test("rejected-sample lines read back what was written: quotes, backslashes, NUL and control bytes in names; a non-finite value is null")
    func rejectedSamples() throws {
        let samples = [
            RejectedSample(deviceID: "dev\"1\\\u{0}\u{1F}", metric: "température", timestampMicros: 1_764_756_000_123_456, value: 1e308, reason: "out_of_range"),
            RejectedSample(deviceID: "d", metric: "m", timestampMicros: -86_400_000_000, value: .nan, reason: "invalid_value"),
            RejectedSample(deviceID: "d", metric: "m", timestampMicros: 0, value: -.infinity, reason: "invalid_value"),
        ]
        let payload = RejectedSample.payload(samples)
        #expect(String(decoding: payload, as: UTF8.self).split(separator: "\n").count == 3)
        let read = try RejectedSample.parse(payload: payload)
        #expect(read == samples)
        #expect(read[1].value == nil && read[2].value == nil)
        #expect(throws: TelemetryError.self) { try RejectedSample.parse(payload: Array("{\"device_id\":\"d\"}\n".utf8)) }
        #expect(throws: TelemetryError.self) { try RejectedSample.parse(payload: Array("not json\n".utf8)) }
        #expect(try RejectedSample.parse(payload: Array("\n\n".utf8)).isEmpty)
    }
}

@Suite("Wire contracts: JSON text")
struct JSONTextTests {
    @Test("JSON string literals escape quotes, backslashes and control characters, nothing else")
    func quoted() {
        #expect(JSONText.quoted("temperature") == #""temperature""#)
        #expect(JSONText.quoted("a\"b\\c\nd\u{1}") == #""a\"b\\c\u000ad\u0001""#)
        #expect(JSONText.quoted("é\u{7F}") == "\"é\u{7F}\"")
    }
}
