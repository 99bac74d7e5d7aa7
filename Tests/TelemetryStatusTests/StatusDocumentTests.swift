import Foundation
import Testing
import TelemetryStatus

@Suite("Status document")
struct StatusDocumentTests {
    static func hub() -> StatusDocument {
        var document = StatusDocument(service: "telemetry-hub", pid: 42, uptimeSeconds: 3600, ready: true, summary: "read 10/s",
                                      dependencies: ["redis": "reachable", "spool": "has room"],
                                      children: [.init(name: "publisher", state: "running", restarts: 2, lastError: "boom\u{0}\n\"x\"",
                                                       lastErrorAtMillis: .max)],
                                      stalledStages: ["ingest"], queues: ["buffer_batches": 3], rates: ["samples_read_per_s": 1e308],
                                      totals: ["samples_read": .max])
        document.socket = "/run/telemetry/hub.sock"
        document.hubID = "h1"
        document.buses = [.init(name: "bus-simulated", kind: "simulated", connected: true, readings: 1, samples: 3, reconnects: 0,
                                deadLetters: 0, errors: ["timeout": 2], detail: "seed 1")]
        document.spool = .init(records: 1, bytes: 2, maxBytes: 1 << 30, directory: "/var/lib/telemetry-hub/spool")
        document.breaker = "closed"
        return document
    }

    @Test("a daemon's document survives encoding and decoding unchanged, extremes included")
    func roundTrip() throws {
        var processor = StatusDocument(service: "telemetry-processor", pid: 7, uptimeSeconds: 0, ready: false, summary: "",
                                       dependencies: [:], children: [], stalledStages: [])
        processor.consumer = "p1"
        processor.consumerLag = nil
        processor.pending = 0
        processor.shards = [.init(shard: 0, length: 10, lag: nil, pending: 0, group: "missing"), .init(shard: 1, length: 0, lag: 0, pending: 0, group: "present")]
        for document in [Self.hub(), processor] {
            let data = try JSONEncoder().encode(document)
            #expect(try JSONDecoder().decode(StatusDocument.self, from: data) == document)
        }
    }

    @Test("JSON keys are the documented snake_case ones; fields a daemon lacks are absent")
    func keys() throws {
        let object = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(Self.hub())) as? [String: Any])
        for key in ["service", "pid", "uptime_s", "ready", "summary", "dependencies", "children", "stalled_stages", "socket", "queues",
                    "rates", "totals", "hub_id", "buses", "spool", "breaker"] {
            #expect(object[key] != nil, "missing \(key)")
        }
        #expect(object["consumer"] == nil && object["consumer_lag"] == nil && object["shards"] == nil)
        let child = try #require((object["children"] as? [[String: Any]])?.first)
        #expect(child["last_error_at_ms"] != nil && child["restarts"] as? Int == 2)
        #expect((object["spool"] as? [String: Any])?["max_bytes"] as? Int == 1 << 30)
        #expect(((object["buses"] as? [[String: Any]])?.first)?["dead_letters"] as? Int == 0)
    }

    @Test("a document as the daemons served it before the shared type decodes, and a foreign JSON is refused")
    func compatibility() throws {
        let served = #"""
            {"breaker":"closed","buses":[{"connected":true,"dead_letters":0,"errors":{},"kind":"simulated","name":"bus-simulated",
            "readings":5,"reconnects":0,"samples":15}],"children":[{"name":"ingest","restarts":0,"state":"running"}],
            "dependencies":{"redis":"reachable"},"hub_id":"abc","pid":1,"queues":{"buffer_batches":0},"ready":true,
            "rates":{"samples_read_per_s":12.5},"service":"telemetry-hub","socket":"/tmp/hub.sock",
            "spool":{"bytes":0,"directory":"/tmp/spool","max_bytes":100,"records":0},"stalled_stages":[],"summary":"ok",
            "totals":{"samples_read":15},"uptime_s":2}
            """#
        let document = try JSONDecoder().decode(StatusDocument.self, from: Data(served.utf8))
        #expect(document.hubID == "abc" && document.buses?.first?.samples == 15 && document.rates["samples_read_per_s"] == 12.5)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(StatusDocument.self, from: Data(#"{"status":"alive"}"#.utf8)) }
    }
}
