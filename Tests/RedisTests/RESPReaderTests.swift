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

    /// Found by `make fuzz` (`Tests/Fuzz/corpus/resp/oom-huge-array-header.resp`): hiredis 0.14
    /// allocated the element pointers of `*1111111111` (about 9 GB) before any element arrived.
    @Test("an array header over the bound is refused before anything is allocated; one at the bound waits for its elements")
    func hugeArrayHeader() throws {
        for text in ["*1111111111\r\n", "*16777217\r\n", "*1\r\n*2147483647\r\n:1\r\n"] {
            do {
                _ = try Self.read(text)
                Issue.record("\(text.debugDescription) was accepted")
            } catch {
                #expect(error.code == .protocolError)
                #expect(error.message.contains("array header over 16777216 elements"), "\(error.message)")
            }
        }
        #expect(try Self.read("*16777216\r\n:1\r\n") == [])
        #expect(try Self.read("*2\r\n*0\r\n:7\r\n") == [.array([.array([]), .integer(7)])])
    }
}
