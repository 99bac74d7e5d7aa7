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

    @Test("round-trips in the current and the previous version", arguments: [UInt8(1), 2])
    func roundTrip(version: UInt8) throws {
        let batch = Self.sample()
        let bytes = HubBatchCodec.encode(batch, version: version)
        #expect(bytes[2] == version)
        #expect(try HubBatchCodec.decode(bytes) == batch)
        let empty = HubBatch(id: "e", shard: 0, createdMicros: 0)
        #expect(try HubBatchCodec.decode(HubBatchCodec.encode(empty, version: version)) == empty)
    }

    @Test("the header of an encoded batch gives its id, shard and sample count without decoding the samples", arguments: [UInt8(1), 2])
    func header(version: UInt8) throws {
        let batch = Self.sample()
        let encoded = try EncodedBatch(bytes: HubBatchCodec.encode(batch, version: version))
        #expect(encoded.id == batch.id && encoded.shard == batch.shard && encoded.sampleCount == 3 && encoded.version == version)
        #expect(EncodedBatch(batch).bytes == HubBatchCodec.encode(batch))
    }

    @Test("version 2 is current and about half the size of version 1 for a typical batch")
    func compact() {
        var samples: [Sample] = []
        for i in 0..<1000 {
            let ts: Int64 = 1_766_745_000_000_000 + Int64(i / 3) * 100_000
            samples.append(Sample(deviceIndex: UInt32(i % 3), metricIndex: UInt16(i % 3), timestampMicros: ts, value: 20 + Double(i) / 7))
        }
        let batch = HubBatch(id: "h-1", shard: 0, createdMicros: 0, devices: ["a", "b", "c"], metrics: ["t", "h", "p"], samples: samples)
        #expect(HubBatchCodec.currentVersion == 2)
        #expect(HubBatchCodec.encode(batch).count * 10 < HubBatchCodec.encode(batch, version: 1).count * 6)
    }

    @Test("every truncation is a typed error, never a crash", arguments: [UInt8(1), 2])
    func truncation(version: UInt8) {
        let bytes = HubBatchCodec.encode(Self.sample(), version: version)
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
