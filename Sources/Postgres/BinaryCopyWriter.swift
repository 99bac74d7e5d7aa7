/// Builds a PostgreSQL binary `COPY` stream (`COPY … FROM STDIN (FORMAT binary)`).
///
/// ```swift
/// var copy = BinaryCopyWriter()
/// copy.beginRow(fields: 2); copy.int32(7); copy.float8(21.5)
/// try pg.copyIn("COPY t (a, b) FROM STDIN (FORMAT binary)", data: copy.finish())
/// ```
public struct BinaryCopyWriter {
    /// The stream so far: the header, then every field appended; ``finish()`` adds the trailer.
    public private(set) var bytes: [UInt8]
    /// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
    public static let postgresEpochOffsetMicros: Int64 = 946_684_800_000_000

    /// Starts a stream with the binary `COPY` header, reserving room for `rows` rows of about
    /// `bytesPerRow` bytes.
    public init(reservingRows rows: Int = 0, bytesPerRow: Int = 40) {
        bytes = []
        bytes.reserveCapacity(19 + rows * bytesPerRow + 2)
        bytes.append(contentsOf: [0x50, 0x47, 0x43, 0x4F, 0x50, 0x59, 0x0A, 0xFF, 0x0D, 0x0A, 0x00])  // PGCOPY\n\377\r\n\0
        append(UInt32(0))  // flags
        append(UInt32(0))  // header extension length
    }

    /// Starts a row of `fields` columns; exactly that many fields must follow, in the `COPY` column order.
    @inline(__always) public mutating func beginRow(fields: Int16) { append(UInt16(bitPattern: fields)) }
    /// A `smallint` (`int2`) field.
    @inline(__always) public mutating func int16(_ v: Int16) { append(UInt32(2)); append(UInt16(bitPattern: v)) }
    /// An `integer` (`int4`) field.
    @inline(__always) public mutating func int32(_ v: Int32) { append(UInt32(4)); append(UInt32(bitPattern: v)) }
    /// A `bigint` (`int8`) field.
    @inline(__always) public mutating func int64(_ v: Int64) { append(UInt32(8)); append(UInt64(bitPattern: v)) }
    /// A `double precision` (`float8`) field.
    @inline(__always) public mutating func float8(_ v: Double) { append(UInt32(8)); append(v.bitPattern) }
    /// A `timestamptz` from microseconds since the Unix epoch.
    @inline(__always) public mutating func timestamptz(unixMicros: Int64) { int64(unixMicros - Self.postgresEpochOffsetMicros) }
    /// A NULL field, whatever the column's type.
    public mutating func null() { append(UInt32(bitPattern: -1)) }

    /// Appends the trailer and returns the stream.
    public mutating func finish() -> [UInt8] {
        append(UInt16(0xFFFF))
        return bytes
    }

    @inline(__always)
    private mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }
}
