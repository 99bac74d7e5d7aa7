/// The framing of one record of the hub's on-disk spool: `magic "TSR1" | length u32 | crc32 u32 |
/// payload` (little endian). Pure, so the reader that finds records in a possibly damaged segment
/// is fuzzed and tested without a disk.
public enum SpoolRecord {
    /// The first field of every record: the bytes `TSR1`, read as a little-endian `UInt32`.
    public static let magic: UInt32 = 0x3152_5354  // "TSR1"
    /// Bytes before the payload: magic, length and CRC-32 of the payload, 4 bytes each.
    public static let headerSize = 12

    /// The record of `payload`, header first.
    public static func frame(_ payload: [UInt8]) -> [UInt8] {
        var record: [UInt8] = []
        record.reserveCapacity(payload.count + headerSize)
        append(&record, magic)
        append(&record, UInt32(truncatingIfNeeded: payload.count))
        append(&record, CRC32.checksum(payload))
        record += payload
        return record
    }

    /// The payload length of a valid record at `offset` of `bytes` (magic, a length that fits,
    /// a matching checksum), or nil.
    public static func validRecord(_ bytes: [UInt8], at offset: Int) -> Int? {
        guard offset >= 0, offset <= bytes.count, bytes.count - offset >= headerSize else { return nil }
        func u32(_ at: Int) -> UInt32 {
            UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
        }
        guard u32(offset) == magic else { return nil }
        let length = Int(u32(offset + 4))
        guard length <= bytes.count - offset - headerSize else { return nil }
        let start = offset + headerSize
        guard CRC32.checksum(bytes[start..<(start + length)]) == u32(offset + 8) else { return nil }
        return length
    }

    /// The valid records of a segment's bytes from `offset` on, as (offset, payload length), and
    /// the damaged ranges between them: after a bad record the reader resynchronises on the
    /// next valid one.
    public static func scan(_ bytes: [UInt8], from offset: Int = 0) -> (records: [(offset: Int, length: Int)], damaged: [Range<Int>]) {
        var records: [(offset: Int, length: Int)] = []
        var damaged: [Range<Int>] = []
        var offset = max(0, min(offset, bytes.count))
        while offset < bytes.count {
            if let length = validRecord(bytes, at: offset) {
                records.append((offset, length))
                offset += headerSize + length
                continue
            }
            var next = offset + 1
            while next < bytes.count && validRecord(bytes, at: next) == nil { next += 1 }
            damaged.append(offset..<next)
            offset = next
        }
        return (records, damaged)
    }

    private static func append(_ out: inout [UInt8], _ value: UInt32) {
        for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: value >> shift)) }
    }
}
