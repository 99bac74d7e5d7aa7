import Configuration
import Foundation
import Hub
import TelemetryCore
import Testing

@Suite("HTTP ingest: documents, tickets, protected batches")
struct HTTPIngestUnitTests {
    @Test("NDJSON: good lines kept, each bad line named with its 1-based line and reason; blank lines and CRLF are fine; strings are not metrics")
    func ndjson() {
        let body = Array("""
            {"device_id":"d1","timestamp":1766745000123,"temperature":21.5,"humidity":40,"raw_data":"b64"}\r
            
            {"device_id":"d2","timestamp":"2026-11-23T10:00:00.5Z","t":-1e3}
            not json
            [1,2]
            {"device_id":"d3","timestamp":"yesterday","t":1}
            {"device_id":"d4","timestamp":1,"t":"warm"}
            {"device_id":"d5","timestamp":1}
            {"timestamp":1,"t":1}
            {"device_id":"d6","timestamp":1.5,"t":1}
            """.utf8) + [0x0A, 0xFF, 0x0A] + Array(#"{"device_id":"d7","timestamp":2,"t":2}"#.utf8)
        let document = SampleDocument.parse(body)
        #expect(document.readings.map(\.deviceID) == ["d1", "d2", "d7"])
        #expect(document.readings[0].metrics == [MetricValue(name: "humidity", value: 40), MetricValue(name: "temperature", value: 21.5)])
        #expect(document.readings[0].timestampMicros == 1_766_745_000_123_000)
        #expect(document.readings[1].timestampMicros == Timestamp.parseRFC3339("2026-11-23T10:00:00.5Z"))
        #expect(document.values == 4)
        #expect(document.rejected.map { "\($0.line) \($0.reason)" } == [
            "4 malformed_json", "5 malformed_json", "6 invalid_field", "7 missing_field", "8 missing_field", "9 missing_field",
            "10 invalid_field", "11 invalid_utf8",
        ])
    }

    @Test("A JSON array: positions as line numbers; a broken array, invalid UTF-8 and an empty body are one rejection at line 0")
    func arrays() {
        let document = SampleDocument.parse(Array(#" [{"device_id":"a","timestamp":1,"x":1}, 7, {"device_id":"b","timestamp":2,"y":2,"z":3}]"#.utf8))
        #expect(document.readings.map(\.deviceID) == ["a", "b"] && document.values == 3)
        #expect(document.rejected.map { "\($0.line) \($0.reason)" } == ["2 malformed_json"])
        for body in [Array("[{".utf8), [0x5B, 0xFF, 0x5D], [], Array("\n \n".utf8), Array("[]".utf8)] {
            let broken = SampleDocument.parse(body)
            #expect(broken.readings.isEmpty && broken.rejected.count == 1 && broken.rejected[0].line == 0, "\(body)")
        }
    }

    @Test("Millions of bad lines cost counts, not messages: the first 1 000 are kept, every one is counted by reason")
    func manyRejections() {
        let document = SampleDocument.parse(Array(String(repeating: "1\n", count: 5000).utf8) + Array("{\"x\":1}\n".utf8))
        #expect(document.readings.isEmpty && document.rejected.count == SampleDocument.maxListedRejections)
        #expect(document.rejectedCount == 5001 && document.rejectedByReason == ["malformed_json": 5000, "missing_field": 1])
    }

    @Test("A ticket is durable once every batch is, fails at the first expiry, and ignores what comes after")
    func ticket() async {
        let ticket = DurabilityTicket(batches: 2)
        ticket.batchDurable()
        #expect(ticket.outcome == nil)
        async let outcome = ticket.wait()
        ticket.batchDurable()
        #expect(await outcome == .durable)
        ticket.expire("late")
        #expect(ticket.outcome == .durable)
        let failing = DurabilityTicket(batches: 3)
        failing.batchDurable()
        failing.expire("the hub is stopping")
        failing.batchDurable()
        failing.batchDurable()
        #expect(await failing.wait() == .failed("the hub is stopping"))
    }

    @Test("drop_oldest never drops a protected element: it drops the oldest unprotected one, or the newcomer")
    func protectedElements() async {
        let buffer = BoundedBuffer<Int>(capacity: 3, policy: .dropOldest, isProtected: { $0 >= 100 })
        #expect(buffer.tryPush(contentsOf: [100, 1]))
        #expect(!buffer.tryPush(contentsOf: [101, 102]))  // all or nothing
        await buffer.push(2)
        guard case .enqueuedDropping(let dropped) = await buffer.push(3) else { Issue.record("expected a drop"); return }
        #expect(dropped == 1)
        #expect(buffer.tryPush(contentsOf: []))
        #expect(await buffer.next(max: 10) == [100, 2, 3])
        #expect(buffer.tryPush(contentsOf: [100, 101, 102]))
        guard case .dropped = await buffer.push(4) else { Issue.record("expected the newcomer to be dropped"); return }
        #expect(buffer.droppedCount == 2)
        #expect(await buffer.next(max: 10) == [100, 101, 102])
    }

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

    @Test("The bearer token is required when configured, compared whole")
    func bearer() throws {
        let configured = try ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: ["HTTP_INGEST_TOKEN": "0123456789abcdef"])).section("http.ingest", HTTPIngestConfiguration.init(reader:))
        #expect(configured.authorizes("Bearer 0123456789abcdef"))
        for header in [nil, "", "Bearer", "Bearer 0123456789abcde", "Bearer 0123456789abcdefg", "Basic 0123456789abcdef", "bearer 0123456789abcdef"] {
            #expect(!configured.authorizes(header), "\(header ?? "nil")")
        }
        let open = try ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: [:])).section("http.ingest", HTTPIngestConfiguration.init(reader:))
        #expect(open.authorizes(nil) && open.maxBodyBytes == 4 << 20)
        #expect(throws: (any Error).self) { try ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: ["HTTP_INGEST_TOKEN": "short"])).section("http.ingest", HTTPIngestConfiguration.init(reader:)) }
    }
}

@Suite("Unauthenticated ingest")
struct UnauthenticatedIngestTests {
    @Test("loopback addresses are told from the others")
    func loopback() {
        for host in ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"] { #expect(HTTPIngestConfiguration.isLoopback(host), "\(host)") }
        for host in ["0.0.0.0", "::", "10.0.0.5", "192.168.1.1", "127.0.0.1.evil", "example.com", ""] {
            #expect(!HTTPIngestConfiguration.isLoopback(host), "\(host)")
        }
    }

    @Test("without a token ingest is served on loopback only, unless explicitly allowed")
    func servesIngest() throws {
        func configuration(_ environment: [String: String]) throws -> HTTPIngestConfiguration {
            try ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: environment)).section("http.ingest", HTTPIngestConfiguration.init(reader:))
        }
        let open = try configuration([:])
        #expect(open.servesIngest(on: "127.0.0.1"))
        #expect(!open.servesIngest(on: "0.0.0.0"))
        #expect(try configuration(["HTTP_INGEST_TOKEN": "0123456789abcdef"]).servesIngest(on: "0.0.0.0"))
        #expect(try configuration(["HTTP_INGEST_ALLOW_UNAUTHENTICATED": "true"]).servesIngest(on: "0.0.0.0"))
    }
}
