import TelemetryCore
import Testing

@Suite("Sample documents: NDJSON and JSON arrays")
struct SampleDocumentTests {
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
}
