@testable import Control
import Foundation
import Logging
import Synchronization
import Testing

@Suite("JSON log lines")
struct JSONLogHandlerTests {
    @Test("one line per record, every control byte escaped, metadata as fields, reserved names prefixed")
    func lines() throws {
        let written = Mutex<[String]>([])
        var handler = JSONLogHandler(label: "hub.ingest") { line in written.withLock { $0.append(line) } }
        handler.metadata["bus"] = "uart0"
        var logger = Logger(label: "hub.ingest", factory: { _ in handler })
        logger.logLevel = .trace
        logger.warning("bad \"line\"\n\u{0}\u{1B}end\u{2028}", metadata: ["message": "clash", "count": "\(Int64.min)",
                                                                        "list": .array(["a", .dictionary(["k": "v"])])])
        let lines = written.withLock { $0 }
        #expect(lines.count == 1)
        let line = try #require(lines.first)
        #expect(line.hasSuffix("}\n") && line.dropLast().allSatisfy { $0 != "\n" && $0 != "\0" })
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["message"] as? String == "bad \"line\"\n\u{0}\u{1B}end\u{2028}")
        #expect(object["_message"] as? String == "clash")
        #expect(object["level"] as? String == "warning" && object["logger"] as? String == "hub.ingest" && object["bus"] as? String == "uart0")
        #expect(object["count"] as? String == "-9223372036854775808")
        #expect((object["list"] as? [Any])?.count == 2)
        let ts = try #require(object["ts"] as? String)
        #expect(ts.hasSuffix("Z") && ts.count == "2026-12-03T11:42:13.123456Z".count, "\(ts)")
    }
}
