/// Thrift's compact protocol, the encoding of every Parquet page header and of the file footer
/// (thrift's doc/specs/thrift-compact-protocol.md): fields as a delta of their id and a type
/// nibble, integers as zigzag ULEB128 varints, binaries and lists with a varint length.
///
/// Writes only what Parquet's structures use; a struct is opened with ``beginStruct(_:)`` (or
/// ``beginListStruct()`` for a list element) and closed with ``endStruct()``.
///
/// ```swift
/// var out = ThriftCompactWriter()
/// out.i32(1, 2)              // field 1, i32: 0x15 0x04
/// out.string(4, "device")
/// out.stop()                 // the top-level struct's end
/// ```
public struct ThriftCompactWriter: Sendable {
    /// The compact protocol's type nibbles.
    public enum FieldType: UInt8, Sendable {
        /// A bool field whose value is true (the value lives in the type nibble).
        case boolTrue = 1
        /// A bool field whose value is false.
        case boolFalse = 2
        /// An i8.
        case byte = 3
        /// An i16.
        case i16 = 4
        /// An i32 (and every Parquet enum).
        case i32 = 5
        /// An i64.
        case i64 = 6
        /// A double.
        case double = 7
        /// A binary or a string.
        case binary = 8
        /// A list.
        case list = 9
        /// A struct (and every Parquet union).
        case structure = 12
    }

    /// The bytes written so far.
    public private(set) var bytes: [UInt8] = []
    private var lastFieldIDs: [Int16] = [0]

    /// An empty writer at the top level of a struct.
    public init() {}

    /// A field header: the id as a delta from the previous field's when it is 1…15, else in full.
    public mutating func fieldHeader(_ id: Int16, _ type: FieldType) {
        let delta = Int(id) - Int(lastFieldIDs[lastFieldIDs.count - 1])
        if delta > 0 && delta <= 15 {
            bytes.append(UInt8(delta) << 4 | type.rawValue)
        } else {
            bytes.append(type.rawValue)
            varint(UInt64(Self.zigzag(Int64(id))))
        }
        lastFieldIDs[lastFieldIDs.count - 1] = id
    }

    /// A bool field.
    public mutating func bool(_ id: Int16, _ value: Bool) { fieldHeader(id, value ? .boolTrue : .boolFalse) }
    /// An i16 field.
    public mutating func i16(_ id: Int16, _ value: Int16) { fieldHeader(id, .i16); varint(Self.zigzag(Int64(value))) }
    /// An i32 field (also every enum).
    public mutating func i32(_ id: Int16, _ value: Int32) { fieldHeader(id, .i32); varint(Self.zigzag(Int64(value))) }
    /// An i64 field.
    public mutating func i64(_ id: Int16, _ value: Int64) { fieldHeader(id, .i64); varint(Self.zigzag(value)) }
    /// A binary field.
    public mutating func binary(_ id: Int16, _ value: [UInt8]) { fieldHeader(id, .binary); rawBinary(value) }
    /// A string field (UTF-8 bytes).
    public mutating func string(_ id: Int16, _ value: String) { binary(id, Array(value.utf8)) }

    /// Opens a struct field; its fields follow, then ``endStruct()``.
    public mutating func beginStruct(_ id: Int16) {
        fieldHeader(id, .structure)
        lastFieldIDs.append(0)
    }

    /// Opens a struct that is a list element (no field header).
    public mutating func beginListStruct() { lastFieldIDs.append(0) }

    /// Closes the innermost open struct with its stop byte.
    public mutating func endStruct() {
        bytes.append(0)
        if lastFieldIDs.count > 1 { lastFieldIDs.removeLast() }
    }

    /// The stop byte of the top-level struct.
    public mutating func stop() { bytes.append(0) }

    /// A list field's header: the size in the high nibble when under 15, else 0xF then a varint.
    public mutating func beginList(_ id: Int16, of element: FieldType, count: Int) {
        fieldHeader(id, .list)
        if count < 15 {
            bytes.append(UInt8(count) << 4 | element.rawValue)
        } else {
            bytes.append(0xF0 | element.rawValue)
            varint(UInt64(count))
        }
    }

    /// An i32 list element.
    public mutating func listI32(_ value: Int32) { varint(Self.zigzag(Int64(value))) }
    /// An i64 list element.
    public mutating func listI64(_ value: Int64) { varint(Self.zigzag(value)) }
    /// A binary or string list element.
    public mutating func listBinary(_ value: [UInt8]) { rawBinary(value) }

    private mutating func rawBinary(_ value: [UInt8]) {
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    /// An unsigned LEB128 varint.
    public mutating func varint(_ value: UInt64) { Varint.append(value, to: &bytes) }

    /// Zigzag: 0, -1, 1, -2 … become 0, 1, 2, 3 …
    @inline(__always)
    public static func zigzag(_ value: Int64) -> UInt64 {
        UInt64(bitPattern: (value << 1) ^ (value >> 63))
    }
}

/// Unsigned LEB128 (the varints of Thrift's compact protocol and of Parquet's encodings).
public enum Varint {
    /// Appends `value` seven bits at a time, low bits first.
    @inline(__always)
    public static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }
}
