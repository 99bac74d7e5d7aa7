import TelemetryCore
import Testing

@Suite("Hub batch codec")
struct HubBatchCodecTests {
    static func sample() -> HubBatch {
        HubBatch(id: "hub-1-42", shard: 5, createdMicros: 1_766_745_000_000_000,
                 devices: ["sensor_001", "capteur_é"], metrics: ["temperature", "humidity", "co2"],
                 samples: [
                     Sample(deviceIndex: 0, metricIndex: 0, timestampMicros: 1_766_745_000_000_001, value: 23.5),
                     Sample(deviceIndex: 1, metricIndex: 2, timestampMicros: -5, value: -0.0),
                     Sample(deviceIndex: 1, metricIndex: 1, timestampMicros: 42, value: 1e-300),
                 ])
    }

    @Test("round-trips")
    func roundTrip() throws {
        let batch = Self.sample()
        #expect(try HubBatchCodec.decode(HubBatchCodec.encode(batch)) == batch)
        let empty = HubBatch(id: "e", shard: 0, createdMicros: 0)
        #expect(try HubBatchCodec.decode(HubBatchCodec.encode(empty)) == empty)
    }

    @Test("every truncation is a typed error, never a crash")
    func truncation() {
        let bytes = HubBatchCodec.encode(Self.sample())
        for length in 0..<bytes.count {
            #expect(throws: TelemetryError.self) { try HubBatchCodec.decode(Array(bytes[0..<length])) }
        }
    }

    @Test("unknown versions and out-of-table indexes are rejected")
    func corrupt() {
        var bytes = HubBatchCodec.encode(Self.sample())
        bytes[2] = 99
        do { _ = try HubBatchCodec.decode(bytes); Issue.record("accepted version 99") } catch { #expect(error.code == .unsupportedVersion) }
        var bad = Self.sample()
        bad.samples[0].deviceIndex = 7
        do { _ = try HubBatchCodec.decode(HubBatchCodec.encode(bad)); Issue.record("accepted a bad index") } catch { #expect(error.code == .invalidField) }
    }
}

@Suite("Shards and time")
struct ShardAndTimeTests {
    @Test("FNV-1a 64 matches the reference vectors")
    func fnv() {
        #expect(FNV1a.hash64("") == 0xcbf2_9ce4_8422_2325)
        #expect(FNV1a.hash64("a") == 0xaf63_dc4c_8601_ec8c)
        #expect(FNV1a.hash64("foobar") == 0x8594_4171_f739_67e8)
        #expect(ShardRouter(shards: 8).shard(of: "foobar") == Int(UInt64(0x8594_4171_f739_67e8) % 8))
    }

    @Test("RFC 3339 parsing and formatting agree", arguments: [
        ("2025-12-26T10:30:00Z", Int64(1_766_745_000_000_000)),
        ("2025-12-26T12:30:00.5+02:00", Int64(1_766_745_000_500_000)),
        ("1970-01-01T00:00:00Z", Int64(0)),
        ("2024-02-29T23:59:59.999999Z", Int64(1_709_251_199_999_999)),
    ])
    func rfc3339(text: String, micros: Int64) {
        #expect(Timestamp.parseRFC3339(text) == micros)
        #expect(Timestamp.parseRFC3339(Timestamp.formatRFC3339(micros: micros)) == micros)
    }

    @Test("invalid timestamps are refused", arguments: ["2025-13-01T00:00:00Z", "2025-02-30T00:00:00Z", "2025-12-26", "2025-12-26T10:30:00", "x"])
    func invalidTimestamps(text: String) {
        #expect(Timestamp.parseRFC3339(text) == nil)
    }
}

@Suite("BoundedBuffer")
struct BoundedBufferTests {
    @Test("drop_oldest keeps the newest and counts drops")
    func dropOldest() async {
        let buffer = BoundedBuffer<Int>(capacity: 3, policy: .dropOldest)
        for i in 0..<5 { await buffer.push(i) }
        #expect(buffer.droppedCount == 2)
        #expect(await buffer.next(max: 10) == [2, 3, 4])
    }

    @Test("block makes the producer wait until the consumer takes; nothing is lost")
    func block() async {
        let buffer = BoundedBuffer<Int>(capacity: 2, policy: .block)
        let producer = Task {
            for i in 0..<1000 { await buffer.push(i) }
            buffer.finish()
        }
        var received: [Int] = []
        while let group = await buffer.next(max: 7) {
            #expect(group.count <= 7)
            received += group
        }
        await producer.value
        #expect(received == Array(0..<1000))
        #expect(buffer.droppedCount == 0)
    }
}
