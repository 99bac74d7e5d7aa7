import TelemetryCore
import Testing

@Suite("Spool layout")
struct SpoolLayoutTests {
    @Test("segment names sort in number order and read back; other files are not segments")
    func names() {
        #expect(SpoolLayout.segmentFileName(42) == "segment-0000000000000042.spool")
        #expect(SpoolLayout.segmentNumber(fileName: SpoolLayout.segmentFileName(.max)) == .max)
        #expect(SpoolLayout.segmentNumber(fileName: "segment-x.spool") == nil)
        #expect(SpoolLayout.segmentNumber(fileName: "head") == nil)
        #expect(SpoolLayout.segmentNumber(fileName: "segment-0000000000000001.spool.tmp") == nil)
    }

    @Test("the head index reads as segment and offset; anything else is unreadable", arguments: [
        ("3 120\n", true), ("3 120", true), ("3", false), ("3 -1", false), ("x 1", false), ("", false), ("1 2 3", false),
    ])
    func head(text: String, readable: Bool) {
        #expect((SpoolLayout.parseHead(text) != nil) == readable)
    }

    @Test("verify starts at the head, skips replayed segments, and names damaged bytes")
    func verify() {
        let good = SpoolRecord.frame(Array("one".utf8)) + SpoolRecord.frame(Array("two".utf8))
        var bad = good
        bad[bad.count - 1] ^= 0xFF
        let reports = SpoolLayout.verify(segments: [(1, good), (3, bad), (2, good)], head: (2, 0))
        #expect(reports.map(\.number) == [2, 3])
        #expect(reports[0].records == 2 && reports[0].damaged.isEmpty)
        #expect(reports[1].records == 1 && !reports[1].damaged.isEmpty)
        let fromOffset = SpoolLayout.verify(segments: [(5, good)], head: (5, SpoolRecord.frame(Array("one".utf8)).count))
        #expect(fromOffset.first?.records == 1)
    }
}
