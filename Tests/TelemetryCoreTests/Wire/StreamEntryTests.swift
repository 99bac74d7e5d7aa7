import TelemetryCore
import Testing

/// The wire contracts shared by the hub, the processor and telemetryctl.
@Suite("Wire contracts: stream entry")
struct StreamEntryTests {
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
}
