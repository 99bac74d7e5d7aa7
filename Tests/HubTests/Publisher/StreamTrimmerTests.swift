import Hub
import Testing

@Suite("Stream trimmer")
struct StreamTrimmerTests {
    @Test("stream ids compare by milliseconds, then sequence")
    func precedes() {
        #expect(StreamTrimmer.precedes("1-0", "2-0"))
        #expect(StreamTrimmer.precedes("5-1", "5-2"))
        #expect(!StreamTrimmer.precedes("10-0", "9-99"))
        #expect(!StreamTrimmer.precedes("7-3", "7-3"))
    }
}
