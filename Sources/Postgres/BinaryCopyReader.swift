/// Reads a PostgreSQL binary `COPY … TO STDOUT (FORMAT binary)` stream, chunk by chunk as
/// ``PostgresConnection/copyOut(_:chunkBytes:_:)`` hands it over (whole messages per chunk): the
/// header, then rows of length-prefixed fields (big-endian), then the trailer.
///
/// ```swift
/// var reader = BinaryCopyReader()
/// try pg.copyOut("COPY (SELECT name, ts FROM t) TO STDOUT (FORMAT binary)") { chunk in
///     try reader.rows(in: chunk) { row in print(row.text(0), row.int64(1)) }
/// }
/// ```
public struct BinaryCopyReader: Sendable {
    /// A malformed stream (not binary COPY, a row cut short, a field of the wrong size).
    public struct Malformed: Error, Sendable, CustomStringConvertible {
        /// What was wrong.
        public let description: String
    }

    private var sawHeader = false
    /// True once the trailer was read.
    public private(set) var finished = false
    /// Rows read so far.
    public private(set) var rows = 0

    /// A reader expecting the stream's header.
    public init() {}

    /// One row: the offsets of its fields in the chunk (-1 length: NULL).
    public struct Row: ~Copyable {
        let chunk: [UInt8]
        let starts: [Int]
        let lengths: [Int]

        /// The number of fields.
        public var count: Int { starts.count }
        /// Whether field `index` is NULL.
        public func isNull(_ index: Int) -> Bool { lengths[index] < 0 }
        /// Field `index`'s bytes (empty for NULL).
        public func bytes(_ index: Int) -> ArraySlice<UInt8> {
            lengths[index] < 0 ? [] : chunk[starts[index]..<(starts[index] + lengths[index])]
        }
        /// A text field as a string (nil for NULL).
        public func text(_ index: Int) -> String? { isNull(index) ? nil : String(decoding: bytes(index), as: UTF8.self) }
        /// An `int8` (or a `timestamptz`'s microseconds since 2000-01-01) field.
        public func int64(_ index: Int) throws(Malformed) -> Int64 {
            guard lengths[index] == 8 else { throw Malformed(description: "field \(index) is \(lengths[index]) bytes, not 8") }
            var value: UInt64 = 0
            for byte in bytes(index) { value = value << 8 | UInt64(byte) }
            return Int64(bitPattern: value)
        }
        /// A `float8` field.
        public func float8(_ index: Int) throws(Malformed) -> Double { Double(bitPattern: UInt64(bitPattern: try int64(index))) }
        /// A `timestamptz` field as microseconds since the Unix epoch.
        public func unixMicros(_ index: Int) throws(Malformed) -> Int64 {
            try int64(index) &+ BinaryCopyWriter.postgresEpochOffsetMicros
        }
    }

    /// Calls `body` with each row in `chunk`.
    public mutating func rows(in chunk: [UInt8], _ body: (borrowing Row) throws -> Void) throws {
        var at = 0
        func word(_ n: Int) throws(Malformed) -> Int {
            guard at + n <= chunk.count else { throw Malformed(description: "the copy stream ends inside a row") }
            var value = 0
            for k in 0..<n { value = value << 8 | Int(chunk[at + k]) }
            at += n
            return value
        }
        if !sawHeader {
            let signature: [UInt8] = [0x50, 0x47, 0x43, 0x4F, 0x50, 0x59, 0x0A, 0xFF, 0x0D, 0x0A, 0x00]
            guard chunk.count >= 19, Array(chunk[0..<11]) == signature else { throw Malformed(description: "not a binary COPY stream") }
            at = 15
            let extensionLength = try word(4)
            at += extensionLength
            sawHeader = true
        }
        var starts: [Int] = [], lengths: [Int] = []
        while at < chunk.count {
            let fields = Int16(truncatingIfNeeded: try word(2))
            if fields == -1 {
                finished = true
                return
            }
            starts.removeAll(keepingCapacity: true)
            lengths.removeAll(keepingCapacity: true)
            for _ in 0..<max(0, Int(fields)) {
                let length = Int(Int32(truncatingIfNeeded: try word(4)))
                starts.append(at)
                lengths.append(length)
                if length > 0 {
                    guard at + length <= chunk.count else { throw Malformed(description: "the copy stream ends inside a field") }
                    at += length
                }
            }
            rows += 1
            try body(Row(chunk: chunk, starts: starts, lengths: lengths))
        }
    }
}
