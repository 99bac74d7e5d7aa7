import TelemetryCore
import Testing

/// The wire contracts shared by the hub, the processor and telemetryctl.
@Suite("Wire contracts")
struct WireContractTests {
    static func fields(_ list: [(name: String, value: [UInt8])]) -> [(name: String?, value: [UInt8]?)] {
        list.map { (Optional($0.name), Optional($0.value)) }
    }

    @Test("a stream entry reads back what was written; unknown fields are ignored, missing ones are nil")
    func streamEntry() throws {
        let batch = HubBatch(id: "hub-1-7", shard: 3, createdMicros: 1, devices: ["d"], metrics: ["m"],
                             samples: [Sample(deviceIndex: 0, metricIndex: 0, timestampMicros: 2, value: 3)])
        let entry = StreamEntry(EncodedBatch(batch))
        #expect(entry.fields.map(\.name) == ["v", "id", "d"])
        let read = StreamEntry(fields: Self.fields(entry.fields) + [("x-extra", [1, 2]), (nil, nil)])
        #expect(read == entry && read.version == "2" && read.batchID == "hub-1-7")
        #expect(try HubBatchCodec.decode(read.data ?? []) == batch)
        let bare = StreamEntry(fields: [("d", [0, 1])])
        #expect(bare.version == nil && bare.batchID == nil && bare.data == [0, 1])
        #expect(StreamEntry(fields: []).data == nil)
    }

    @Test("a dead letter reads back what was written; a payload over 1 MiB is cut and its size kept; missing fields read as empty")
    func deadLetter() {
        let error = TelemetryError(.outOfRange, "temperature 1e308 outside -50...150\u{0}\n")
        let letter = DeadLetter(error: error, attempts: 3, firstFailureMillis: .min, lastFailureMillis: .max, source: "stream:7",
                                sourceID: "1-0", payload: Array(repeating: 0xFF, count: DeadLetter.maxPayloadBytes + 5))
        #expect(letter.payload.count == DeadLetter.maxPayloadBytes && letter.payloadTruncatedFrom == DeadLetter.maxPayloadBytes + 5)
        #expect(letter.reason == "out_of_range")
        let read = DeadLetter(fields: Dictionary(letter.fields.map { ($0.name, $0.value) }) { $1 })
        #expect(read == letter)
        #expect(Set(letter.fields.map(\.name)) == Set(DeadLetter.Field.allCases.map(\.rawValue)))
        let whole = DeadLetter(error: error, attempts: 1, firstFailureMillis: 1, lastFailureMillis: 1, source: "compat", sourceID: "t", payload: [1])
        #expect(whole.payloadTruncatedFrom == nil && !whole.fields.contains { $0.name == "payload_truncated_from" })
        let empty = DeadLetter(fields: [:])
        #expect(empty.reason.isEmpty && empty.attempts == 0 && empty.payload.isEmpty && empty.payloadTruncatedFrom == nil)
    }

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

    @Test("JSON string literals escape quotes, backslashes and control characters, nothing else")
    func quoted() {
        #expect(JSONText.quoted("temperature") == #""temperature""#)
        #expect(JSONText.quoted("a\"b\\c\nd\u{1}") == #""a\"b\\c\u000ad\u0001""#)
        #expect(JSONText.quoted("é\u{7F}") == "\"é\u{7F}\"")
    }
}
