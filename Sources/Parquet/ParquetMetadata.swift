/// The footer's structures (parquet.thrift), each encoded with ``ThriftCompactWriter`` under the
/// field ids the specification gives them.

/// Column chunk statistics: `min_value`/`max_value` (5, 6) in the column's sort order, the null
/// count (3), and for numbers the deprecated `min`/`max` (1, 2) older readers look at.
struct Statistics: Sendable, Equatable {
    var nullCount: Int64
    var minValue: [UInt8]?
    var maxValue: [UInt8]?
    /// Also write the deprecated fields (signed numbers, whose old and new orders agree).
    var legacy = false

    func encode(_ out: inout ThriftCompactWriter, field: Int16) {
        out.beginStruct(field)
        if legacy, let maxValue, let minValue {
            out.binary(1, maxValue)
            out.binary(2, minValue)
        }
        out.i64(3, nullCount)
        if let maxValue, let minValue {
            out.binary(5, maxValue)
            out.binary(6, minValue)
        }
        out.endStruct()
    }
}

/// `ColumnChunk` with its `ColumnMetaData`.
struct ColumnChunkMetadata: Sendable {
    let name: String
    let physicalType: Int32
    let encodings: [Int32]
    let codec: Int32
    let numValues: Int64
    let totalUncompressedSize: Int64
    let totalCompressedSize: Int64
    let dataPageOffset: Int64
    let dictionaryPageOffset: Int64?
    let statistics: Statistics

    func encode(_ out: inout ThriftCompactWriter) {
        out.beginListStruct()
        out.i64(2, 0)  // file_offset: deprecated, 0 when no ColumnMetaData is written outside the footer
        out.beginStruct(3)
        out.i32(1, physicalType)
        out.beginList(2, of: .i32, count: encodings.count)
        for encoding in encodings { out.listI32(encoding) }
        out.beginList(3, of: .binary, count: 1)
        out.listBinary(Array(name.utf8))
        out.i32(4, codec)
        out.i64(5, numValues)
        out.i64(6, totalUncompressedSize)
        out.i64(7, totalCompressedSize)
        out.i64(9, dataPageOffset)
        if let dictionaryPageOffset { out.i64(11, dictionaryPageOffset) }
        statistics.encode(&out, field: 12)
        out.endStruct()
        out.endStruct()
    }
}

/// `RowGroup`.
struct RowGroupMetadata: Sendable {
    let columns: [ColumnChunkMetadata]
    let numRows: Int64
    let fileOffset: Int64
    let totalByteSize: Int64
    let totalCompressedSize: Int64
    let sortingColumns: [Int]

    func encode(_ out: inout ThriftCompactWriter, ordinal: Int) {
        out.beginListStruct()
        out.beginList(1, of: .structure, count: columns.count)
        for column in columns { column.encode(&out) }
        out.i64(2, totalByteSize)
        out.i64(3, numRows)
        if !sortingColumns.isEmpty {
            out.beginList(4, of: .structure, count: sortingColumns.count)
            for column in sortingColumns {
                out.beginListStruct()
                out.i32(1, Int32(column))
                out.bool(2, false)  // ascending
                out.bool(3, false)  // nulls last
                out.endStruct()
            }
        }
        out.i64(5, fileOffset)
        out.i64(6, totalCompressedSize)
        out.i16(7, Int16(truncatingIfNeeded: ordinal))
        out.endStruct()
    }
}

/// `FileMetaData`: format version 2, a flat schema under a root named `schema`, type-defined
/// column orders (so readers trust `min_value`/`max_value`).
struct FileMetadata: Sendable {
    let columns: [ParquetColumn]
    let numRows: Int64
    let rowGroups: [RowGroupMetadata]
    let keyValueMetadata: [(key: String, value: String)]
    let createdBy: String

    func encoded() -> [UInt8] {
        var out = ThriftCompactWriter()
        out.i32(1, 2)
        out.beginList(2, of: .structure, count: columns.count + 1)
        out.beginListStruct()
        out.string(4, "schema")
        out.i32(5, Int32(columns.count))
        out.endStruct()
        for column in columns { Self.encode(column, &out) }
        out.i64(3, numRows)
        out.beginList(4, of: .structure, count: rowGroups.count)
        for (ordinal, group) in rowGroups.enumerated() { group.encode(&out, ordinal: ordinal) }
        if !keyValueMetadata.isEmpty {
            out.beginList(5, of: .structure, count: keyValueMetadata.count)
            for (key, value) in keyValueMetadata {
                out.beginListStruct()
                out.string(1, key)
                out.string(2, value)
                out.endStruct()
            }
        }
        out.string(6, createdBy)
        out.beginList(7, of: .structure, count: columns.count)
        for _ in columns {
            out.beginListStruct()  // ColumnOrder (a union) …
            out.beginStruct(1)     // … whose member is TYPE_ORDER, an empty struct
            out.endStruct()
            out.endStruct()
        }
        out.stop()
        return out.bytes
    }

    /// A leaf `SchemaElement`: type (1), repetition (3), name (4), converted type (6) for older
    /// readers, logical type (10).
    static func encode(_ column: ParquetColumn, _ out: inout ThriftCompactWriter) {
        out.beginListStruct()
        switch column.kind {
        case .string: out.i32(1, 6)  // BYTE_ARRAY
        case .int64, .timestampMicros: out.i32(1, 2)  // INT64
        case .double: out.i32(1, 5)  // DOUBLE
        }
        out.i32(3, column.nullable ? 1 : 0)  // OPTIONAL : REQUIRED
        out.string(4, column.name)
        switch column.kind {
        case .string:
            out.i32(6, 0)  // UTF8
            out.beginStruct(10)
            out.beginStruct(1)  // STRING
            out.endStruct()
            out.endStruct()
        case .timestampMicros:
            out.i32(6, 10)  // TIMESTAMP_MICROS
            out.beginStruct(10)
            out.beginStruct(8)  // TIMESTAMP
            out.bool(1, true)   // isAdjustedToUTC
            out.beginStruct(2)  // unit
            out.beginStruct(2)  // MICROS
            out.endStruct()
            out.endStruct()
            out.endStruct()
            out.endStruct()
        case .int64, .double:
            break
        }
        out.endStruct()
    }
}
