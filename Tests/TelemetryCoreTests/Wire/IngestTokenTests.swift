import TelemetryCore
import Testing

@Suite("Ingest token and base64url")
struct IngestTokenTests {
    @Test("a token names its batches and survives its text form, whatever the hub id holds")
    func roundTrip() throws {
        for prefix in ["h-1a2b", "hub.with.dots", "ünïcode-✓", "100%_x", String(repeating: "x", count: 256)] {
            let token = IngestToken(prefix: prefix, first: 7, last: 9)
            #expect(IngestToken(parsing: token.description) == token)
            #expect(token.batchKeys == ["hub:\(prefix)-7", "hub:\(prefix)-8", "hub:\(prefix)-9"])
            let unsafe: Set<Character> = [" ", "&", "=", "/", "+", "%", "?"]
            let text = token.description
            #expect(!text.contains(where: unsafe.contains), "\(text)")
        }
    }

    @Test("anything else is not a token: other versions, zero or reversed ranges, too many batches, bad base64, an empty, long or control-byte prefix")
    func refusals() {
        let nul = "t1.1.1." + Base64URL.encode([0x61, 0x00, 0x62])
        let long = "t1.1.1." + Base64URL.encode([UInt8](repeating: 0x61, count: 257))
        for text in [nul, long, "t1.1.1.AA", "", "t1", "t2.1.1.YQ", "t1.0.1.YQ", "t1.2.1.YQ", "t1.1.100001.YQ", "t1.1.1.", "t1.1.1.Y", "t1.1.1.Y=Q", "t1.-1.1.YQ",
                     "t1.1.9223372036854775807.YQ", "t1.1.1.YQ.extra", "t1.1.1.__8", "t1.1.1.wA"] {
            #expect(IngestToken(parsing: text) == nil, "\(text)")
        }
    }

    @Test("base64url round-trips every length and refuses leftover bits")
    func base64() {
        var bytes: [UInt8] = []
        for n in 0..<40 {
            #expect(Base64URL.decode(Base64URL.encode(bytes)) == bytes)
            bytes.append(UInt8(truncatingIfNeeded: n &* 37 &+ 250))
        }
        #expect(Base64URL.encode(Array("hub".utf8)) == "aHVi")
        #expect(Base64URL.encode([0xFB, 0xFF]) == "-_8")
        #expect(Base64URL.decode("A") == nil && Base64URL.decode("AA") == [0] && Base64URL.decode("AB") == nil && Base64URL.decode("AR") == nil)
    }
}
