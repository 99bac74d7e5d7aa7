import Redis
import Testing

@Suite("RESP reader")
struct RESPReaderTests {
    static func read(_ text: String) throws(RedisError) -> [RESPValue] { try RESPReader.replies(Array(text.utf8)) }

    @Test("every reply type, nested arrays, nil bulk and nil array, binary bulk with CR LF and NUL inside")
    func types() throws {
        #expect(try Self.read("+OK\r\n-ERR wrong\r\n:42\r\n:-9223372036854775808\r\n") == [.status("OK"), .error("ERR wrong"), .integer(42), .integer(.min)])
        #expect(try Self.read("$3\r\nabc\r\n$-1\r\n$0\r\n\r\n") == [.bulk(Array("abc".utf8)), .null, .bulk([])])
        #expect(try Self.read("*2\r\n*1\r\n:1\r\n$1\r\nx\r\n*-1\r\n*0\r\n") == [.array([.array([.integer(1)]), .bulk([120])]), .null, .array([])])
        #expect(try RESPReader.replies(Array("$4\r\n".utf8) + [13, 10, 0, 255] + Array("\r\n".utf8)) == [.bulk([13, 10, 0, 255])])
    }

    @Test("an incomplete reply is left out; max stops early")
    func partial() throws {
        #expect(try Self.read("+OK\r\n$10\r\nabc") == [.status("OK")])
        #expect(try Self.read("*3\r\n:1\r\n:2\r\n") == [])
        #expect(try Self.read("") == [])
        #expect(try RESPReader.replies(Array(":1\r\n:2\r\n:3\r\n".utf8), max: 2) == [.integer(1), .integer(2)])
    }

    @Test("bytes that are not RESP are a protocol error, never a crash")
    func garbage() {
        for text in ["?what\r\n", ":12x\r\n", "$-5\r\n", "*-2\r\n", "hello world\r\n"] {
            #expect(throws: RedisError.self, "\(text)") { try Self.read(text) }
        }
    }
}
