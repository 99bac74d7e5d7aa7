import Processor
import Redis
import Testing

@Suite("Stream positions")
struct StreamPositionTests {
    @Test("the furthest position per stream, with ids at the edges of UInt64")
    func furthest() {
        let top = StreamID(milliseconds: .max, sequence: .max)
        let positions = [StreamPosition(stream: "b", id: StreamID(milliseconds: 1, sequence: 0)),
                         StreamPosition(stream: "a", id: StreamID(milliseconds: 0, sequence: 7)),
                         StreamPosition(stream: "b", id: top),
                         StreamPosition(stream: "a", id: StreamID(milliseconds: 0, sequence: 6)),
                         StreamPosition(stream: "b", id: StreamID(milliseconds: .max, sequence: 0))]
        #expect(StreamPosition.furthest(positions) == [StreamPosition(stream: "a", id: StreamID(milliseconds: 0, sequence: 7)),
                                                       StreamPosition(stream: "b", id: top)])
        #expect(StreamPosition.furthest([]).isEmpty)
    }

    @Test("the book keeps the least position per stream seen since the last take, and tells a connection that found nothing from none")
    func book() {
        let book = StreamPositionBook()
        #expect(book.take() == nil)
        book.connected(positions: [:])
        #expect(book.take() == [:])
        #expect(book.take() == nil)
        book.connected(positions: ["s:0": StreamID(milliseconds: 9, sequence: 0), "s:1": StreamID(milliseconds: 3, sequence: 3)])
        book.connected(positions: ["s:0": StreamID(milliseconds: 8, sequence: 5)])
        book.connected(positions: ["s:1": StreamID(milliseconds: 3, sequence: 4)])
        #expect(book.take() == ["s:0": StreamID(milliseconds: 8, sequence: 5), "s:1": StreamID(milliseconds: 3, sequence: 3)])
        #expect(book.take() == nil)
    }

    @Test("stream ids parse only in full, order by milliseconds then sequence, and the successor carries over")
    func ids() {
        #expect(StreamID("18446744073709551615-18446744073709551615") == StreamID(milliseconds: .max, sequence: .max))
        for bad in ["", "-", "+", "5", "5-", "-5", "5--1", "+5-1", " 5-1", "5-1 ", "18446744073709551616-0", "5-1-2", "٣-1"] {
            #expect(StreamID(bad) == nil, "\(bad)")
        }
        #expect(StreamID(milliseconds: 1, sequence: .max) < StreamID(milliseconds: 2, sequence: 0))
        #expect(StreamID(milliseconds: 1, sequence: .max).successor == StreamID(milliseconds: 2, sequence: 0))
        #expect(StreamID(milliseconds: 1, sequence: 1).description == "1-1")
    }
}
