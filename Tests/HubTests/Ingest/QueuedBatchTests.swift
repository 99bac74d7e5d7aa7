import Hub
import TelemetryCore
import Testing

@Suite("Queued batch: the acknowledged flag in the batch, the ticket beside it")
struct QueuedBatchTests {
    @Test("The acknowledged flag travels in the batch header (spool records keep it); the ticket travels beside the batch, never in it")
    func acknowledgedFlag() throws {
        let ticket = DurabilityTicket(batches: 1)
        let batch = HubBatch(id: "h-1", shard: 2, createdMicros: 5, devices: ["d"], metrics: ["m"],
                             samples: [Sample(deviceIndex: 0, metricIndex: 0, timestampMicros: 7, value: 1)], acknowledged: true)
        let queued = QueuedBatch(batch, ticket: ticket)
        #expect(queued.ticket === ticket && queued.batch == batch)
        let encoded = EncodedBatch(batch)
        #expect(encoded.acknowledged)
        let reread = try EncodedBatch(bytes: encoded.bytes)
        #expect(reread.acknowledged)
        let decoded = try HubBatchCodec.decode(encoded.bytes)
        #expect(decoded.acknowledged)
        #expect(decoded == batch)
        #expect(try !EncodedBatch(bytes: HubBatchCodec.encode(HubBatch(id: "h-2", shard: 0, createdMicros: 1))).acknowledged)
    }
}
