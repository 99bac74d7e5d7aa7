import Processor
import Redis
import Testing

/// Whether the gap a promoted standby missed can still be re-read from the stream, judged from
/// `XINFO STREAM` as Redis 7.0 answers it.
@Suite("Re-read gap")
struct RewindGapTests {
    let mark = StreamID(milliseconds: 1_000, sequence: 5)

    func info(first: String?, deleted: String = "0-0", length: Int = 10) -> [String: RESPValue] {
        var fields: [String: RESPValue] = ["length": .integer(length), "max-deleted-entry-id": .bulk(Array(deleted.utf8))]
        if let first { fields["recorded-first-entry-id"] = .bulk(Array(first.utf8)) }
        return fields
    }

    @Test("a stream that still starts at or before the position holds the whole gap")
    func whole() {
        #expect(ConsumerActor.unreadable(after: mark, stream: info(first: "900-0")) == nil)
        #expect(ConsumerActor.unreadable(after: mark, stream: info(first: "1000-5")) == nil)
    }

    @Test("trimmed past the position (XTRIM MINID moves only the start), deleted past it (XDEL), or emptied: named")
    func gone() {
        #expect(ConsumerActor.unreadable(after: mark, stream: info(first: "1000-6"))?.contains("begins at 1000-6") == true)
        #expect(ConsumerActor.unreadable(after: mark, stream: info(first: "900-0", deleted: "1001-0"))?.contains("deleted up to 1001-0") == true)
        #expect(ConsumerActor.unreadable(after: mark, stream: info(first: "0-0", length: 0)) == "the stream is empty")
        // Without recorded-first-entry-id (before Redis 7), the first entry's id.
        let older: [String: RESPValue] = ["length": .integer(3), "first-entry": .array([.bulk(Array("2000-0".utf8)), .array([])])]
        #expect(ConsumerActor.unreadable(after: mark, stream: older)?.contains("begins at 2000-0") == true)
    }

    @Test("from the stream's start (a shard the promoted standby has no position for): gone is what was added and is not there")
    func fromStart() {
        let start = StreamID(milliseconds: 0, sequence: 0)
        var stream = info(first: "1700-0", length: 40)
        stream["entries-added"] = .integer(40)
        #expect(ConsumerActor.unreadable(after: start, stream: stream) == nil)
        stream["entries-added"] = .integer(45)
        #expect(ConsumerActor.unreadable(after: start, stream: stream) == "5 of the 45 entries ever added were trimmed or deleted")
    }
}
