import TelemetryCore
import Testing

@Suite("Hub batch codec")
struct HubBatchTests {
    static func sample() -> HubBatch {
        HubBatch(id: "hub-1-42", shard: 5, createdMicros: 1_766_745_000_000_000,
                 devices: ["sensor_001", "capteur_é"], metrics: ["temperature", "humidity", "co2"],
                 samples: [
                     Sample(deviceIndex: 0, metricIndex: 0, timestampMicros: 1_766_745_000_000_001, value: 23.5),
                     Sample(deviceIndex: 1, metricIndex: 2, timestampMicros: -5, value: -0.0),
                     Sample(deviceIndex: 1, metricIndex: 1, timestampMicros: 42, value: 1e-300),
                 ])
    }

    @Test("round-trips in the current and the previous version", arguments: [UInt8(1), 2, 3, 4])
    func roundTrip(version: UInt8) throws {
        let batch = Self.sample()
        let bytes = HubBatchCodec.encode(batch, version: version)
        #expect(bytes[2] == version)
        #expect(try HubBatchCodec.decode(bytes) == batch)
        let empty = HubBatch(id: "e", shard: 0, createdMicros: 0)
        #expect(try HubBatchCodec.decode(HubBatchCodec.encode(empty, version: version)) == empty)
    }

    @Test("the header of an encoded batch gives its id, shard and sample count without decoding the samples", arguments: [UInt8(1), 2, 3, 4])
    func header(version: UInt8) throws {
        let batch = Self.sample()
        let encoded = try EncodedBatch(bytes: HubBatchCodec.encode(batch, version: version))
        #expect(encoded.id == batch.id && encoded.shard == batch.shard && encoded.sampleCount == 3 && encoded.version == version)
        #expect(EncodedBatch(batch).bytes == HubBatchCodec.encode(batch))
    }

    @Test("a batch of a tenant is written in version 3 with its tenant; the default tenant's stays version 2")
    func tenant() throws {
        var batch = Self.sample()
        #expect(HubBatchCodec.encode(batch)[2] == 2)
        batch.tenant = "acme-2"
        let bytes = HubBatchCodec.encode(batch)
        #expect(bytes[2] == 3)
        let decoded = try HubBatchCodec.decode(bytes)
        #expect(decoded == batch && decoded.tenant == "acme-2")
        let encoded = try EncodedBatch(bytes: bytes)
        #expect(encoded.id == batch.id && encoded.shard == batch.shard && encoded.sampleCount == 3)
        // The tenant sits between the id and the shard: "TB" 3 flags created id tenant shard …
        let tenantAt = 4 + 8 + 2 + batch.id.utf8.count
        #expect(Array(bytes[tenantAt..<(tenantAt + 2 + 6)]) == [6, 0] + Array("acme-2".utf8))
        #expect(bytes.count == HubBatchCodec.encode(Self.sample()).count + 2 + 6)
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

    @Test("a batch with labels is written in version 4, labels after the samples; without labels nothing changes")
    func labels() throws {
        var batch = Self.sample()
        batch.labels = [BatchLabel(deviceIndex: 1, timestampMicros: -7, label: DeviceLabel(key: "site", value: "north ✓", kind: .tag)),
                        BatchLabel(deviceIndex: 0, timestampMicros: Int64.max, label: DeviceLabel(key: "status", value: "", kind: .field))]
        let bytes = HubBatchCodec.encode(batch)
        #expect(bytes[2] == 4)
        #expect(try HubBatchCodec.decode(bytes) == batch)
        let encoded = try EncodedBatch(bytes: bytes)
        #expect(encoded.id == batch.id && encoded.sampleCount == 3)
        batch.labels[0].deviceIndex = 2
        do { _ = try HubBatchCodec.decode(HubBatchCodec.encode(batch)); Issue.record("accepted a label outside the device table") } catch {
            #expect(error.code == .invalidField)
        }
        // An announced label count the bytes cannot hold is refused before anything is reserved.
        var huge = HubBatchCodec.encode(Self.sample(), version: 4)
        huge.replaceSubrange((huge.count - 4)..<huge.count, with: [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(throws: TelemetryError.self) { try HubBatchCodec.decode(huge) }
    }

    @Test("every truncation is a typed error, never a crash", arguments: [UInt8(1), 2, 3, 4])
    func truncation(version: UInt8) {
        var batch = Self.sample()
        if version >= 3 { batch.tenant = "acme" }
        if version == 4 { batch.labels = [BatchLabel(deviceIndex: 1, timestampMicros: 5, label: DeviceLabel(key: "k", value: "v", kind: .tag))] }
        let bytes = HubBatchCodec.encode(batch, version: version)
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
