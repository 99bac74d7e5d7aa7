/// The hub's spool directory: `segment-<16 digits>.spool` files of ``SpoolRecord``s, and `head`
/// (`<segment> <offset>`, the oldest record not yet replayed). Shared by the hub's spool and
/// `telemetryctl spool verify`, which walks a spool offline.
public enum SpoolLayout {
    /// The head index's file name.
    public static let headFileName = "head"

    /// The file name of segment `number` (zero-padded, so names sort in segment order).
    public static func segmentFileName(_ number: UInt64) -> String {
        let digits = String(number)
        return "segment-\(String(repeating: "0", count: max(0, 16 - digits.count)))\(digits).spool"
    }

    /// The segment number a file name stands for; nil for any other file.
    public static func segmentNumber(fileName name: String) -> UInt64? {
        guard name.hasPrefix("segment-"), name.hasSuffix(".spool") else { return nil }
        return UInt64(name.dropFirst(8).dropLast(6))
    }

    /// The head index's segment and offset; nil when the text is not `<segment> <offset>`.
    public static func parseHead(_ text: String) -> (segment: UInt64, offset: Int)? {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" })
        guard parts.count == 2, let segment = UInt64(parts[0]), let offset = Int(parts[1]), offset >= 0 else { return nil }
        return (segment, offset)
    }

    /// What one segment holds from where replay would start.
    public struct SegmentReport: Sendable, Equatable {
        /// The segment's number.
        public var number: UInt64
        /// Its size in bytes.
        public var bytes: Int
        /// Records whose header and checksum are right (those replay would send).
        public var records: Int
        /// Byte ranges that are not records (quarantined by the hub at its next start).
        public var damaged: [Range<Int>]
    }

    /// Walks the segments from the head on (segments before the head are already replayed and
    /// are not read), as the hub's recovery would. `segments` are the files' numbers and bytes.
    public static func verify(segments: [(number: UInt64, bytes: [UInt8])], head: (segment: UInt64, offset: Int)?) -> [SegmentReport] {
        let (headSegment, headOffset) = head ?? (0, 0)
        return segments.sorted { $0.number < $1.number }.filter { $0.number >= headSegment }.map { segment in
            let start = segment.number == headSegment ? min(headOffset, segment.bytes.count) : 0
            let scanned = SpoolRecord.scan(segment.bytes, from: start)
            return SegmentReport(number: segment.number, bytes: segment.bytes.count, records: scanned.records.count, damaged: scanned.damaged)
        }
    }
}
