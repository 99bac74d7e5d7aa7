import Compression

/// Writes one Parquet file (format 2, Apache Parquet's specification): `PAR1`, each row group's
/// column chunks (an optional dictionary page, then data pages v1), the footer (`FileMetaData`
/// in Thrift's compact protocol), its length and `PAR1` again. No I/O but its ``ParquetSink``.
///
/// Per column chunk it picks the smaller encoding: dictionary (RLE_DICTIONARY) or PLAIN for
/// strings and doubles, DELTA_BINARY_PACKED or PLAIN for integers and timestamps; it records
/// min/max statistics and the null count.
///
/// ```swift
/// let sink = ParquetMemorySink()
/// let writer = try ParquetWriter(columns: [ParquetColumn("device", .string), ParquetColumn("value", .double)], sink: sink)
/// var devices = ParquetStrings(); devices.append("s1")
/// try writer.write(rowGroup: [.strings(devices), .double([21.5])])
/// let summary = try writer.close()
/// ```
public final class ParquetWriter {
    /// The schema, in column order.
    public let columns: [ParquetColumn]
    /// The options it writes with.
    public let options: ParquetOptions
    private let sink: any ParquetSink
    let zstdCompressor: ZstdCompressor?
    private var offset: Int64 = 0
    private var rowGroups: [RowGroupMetadata] = []
    private var rows: Int64 = 0
    private var closed = false

    /// Starts a file: writes the leading magic.
    public init(columns: [ParquetColumn], options: ParquetOptions = ParquetOptions(), sink: any ParquetSink) throws {
        guard !columns.isEmpty else { throw ParquetError.schemaMismatch("a schema needs at least one column") }
        self.columns = columns
        self.options = options
        self.sink = sink
        do {
            zstdCompressor = options.compression == .zstd ? try ZstdCompressor(level: options.zstdLevel) : nil
        } catch {
            throw ParquetError.compression(error.description)
        }
        try emit(Self.magic)
    }

    /// The widest DELTA_BINARY_PACKED miniblock written (wider pages are PLAIN).
    static let deltaMaxWidth = 24
    /// Values a delta page holds before it may end at a step back.
    static let deltaPageMinimum = 1024

    /// The 4 bytes at both ends of every Parquet file.
    public static let magic: [UInt8] = Array("PAR1".utf8)

    /// Writes one row group; every column must have the same number of rows. An empty row
    /// group is skipped.
    public func write(rowGroup: [ParquetColumnData]) throws {
        guard !closed else { throw ParquetError.closed }
        guard rowGroup.count == columns.count else {
            throw ParquetError.schemaMismatch("\(rowGroup.count) columns for a schema of \(columns.count)")
        }
        let count = rowGroup[0].count
        guard count > 0 else { return }
        var chunks: [ColumnChunkMetadata] = []
        let start = offset
        for (column, data) in zip(columns, rowGroup) {
            guard data.count == count else {
                throw ParquetError.schemaMismatch("column \(column.name) has \(data.count) rows, the first \(count)")
            }
            chunks.append(try writeChunk(column, data))
        }
        rowGroups.append(RowGroupMetadata(
            columns: chunks, numRows: Int64(count), fileOffset: start,
            totalByteSize: chunks.reduce(0) { $0 + $1.totalUncompressedSize },
            totalCompressedSize: chunks.reduce(0) { $0 + $1.totalCompressedSize },
            sortingColumns: options.sortingColumns))
        rows += Int64(count)
    }

    /// Writes the footer and the trailing magic; the writer takes no more rows.
    @discardableResult
    public func close() throws -> ParquetFileSummary {
        guard !closed else { throw ParquetError.closed }
        closed = true
        let footer = FileMetadata(columns: columns, numRows: rows, rowGroups: rowGroups,
                                  keyValueMetadata: options.keyValueMetadata, createdBy: options.createdBy).encoded()
        var tail = footer
        ParquetEncoding.appendLittleEndian(UInt32(footer.count), to: &tail)
        tail.append(contentsOf: Self.magic)
        try emit(tail)
        return ParquetFileSummary(rows: rows, rowGroups: rowGroups.count, bytes: offset)
    }

    private func emit(_ bytes: [UInt8]) throws {
        try sink.write(bytes)
        offset += Int64(bytes.count)
    }

    func sinkWrite(_ bytes: [UInt8]) throws { try emit(bytes) }

    // MARK: Column chunks

    private func writeChunk(_ column: ParquetColumn, _ data: ParquetColumnData) throws -> ColumnChunkMetadata {
        switch (column.kind, data) {
        case (.string, .strings(let strings)):
            return try writeStrings(column, strings)
        case (.int64, .int64(let values)), (.timestampMicros, .int64(let values)):
            return try writeIntegers(column, values)
        case (.double, .double(let values)):
            return try writeDoubles(column, values)
        default:
            throw ParquetError.schemaMismatch("column \(column.name) is \(column.kind), given other values")
        }
    }

    private func writeStrings(_ column: ParquetColumn, _ strings: ParquetStrings) throws -> ColumnChunkMetadata {
        let nulls = strings.nullCount
        guard column.nullable || nulls == 0 else {
            throw ParquetError.schemaMismatch("column \(column.name) is required and has \(nulls) missing values")
        }
        let lengths = strings.dictionary.map { 4 + $0.count }
        let width = Self.indexWidth(strings.dictionary.count)
        var statistics = Statistics(nullCount: Int64(nulls))
        if let smallest = strings.dictionary.min(by: { $0.lexicographicallyPrecedes($1) }),
           let largest = strings.dictionary.max(by: { $0.lexicographicallyPrecedes($1) }) {
            statistics.minValue = smallest
            statistics.maxValue = largest
        }
        var chunk = ChunkBuilder(column: column, physicalType: 6, codec: options.compression.codec, start: offset)
        chunk.statistics = statistics
        let present = strings.indices.filter { $0 >= 0 }
        // Text is always dictionary-encoded (some readers, fastparquet among them, mis-read a
        // column whose row groups mix dictionary and PLAIN pages), unless the dictionary outgrows
        // `dictionaryLimitBytes`: values that nearly never repeat gain nothing from it.
        // A chunk of missing values only has no dictionary to write.
        if !strings.dictionary.isEmpty && lengths.reduce(0, +) <= options.dictionaryLimitBytes {
            var dictionary: [UInt8] = []
            dictionary.reserveCapacity(lengths.reduce(0, +))
            for value in strings.dictionary { ParquetEncoding.plain(byteArray: value, into: &dictionary) }
            try page(&chunk, dictionary: dictionary, count: strings.dictionary.count)
            try pages(&chunk, rows: strings.count, nullMarks: column.nullable ? strings.indices : nil, present: present) { slice, out in
                out.append(UInt8(width))
                ParquetEncoding.rleHybrid(slice.map { UInt32(bitPattern: $0) }, width: width, into: &out)
                return 8  // RLE_DICTIONARY
            }
        } else {
            try pages(&chunk, rows: strings.count, nullMarks: column.nullable ? strings.indices : nil, present: present) { slice, out in
                for index in slice { ParquetEncoding.plain(byteArray: strings.dictionary[Int(index)], into: &out) }
                return 0  // PLAIN
            }
        }
        return try finish(chunk)
    }

    private func writeIntegers(_ column: ParquetColumn, _ values: [Int64]) throws -> ColumnChunkMetadata {
        var chunk = ChunkBuilder(column: column, physicalType: 2, codec: options.compression.codec, start: offset)
        var statistics = Statistics(nullCount: 0)
        if let smallest = values.min(), let largest = values.max() {
            statistics.minValue = Self.littleEndian(UInt64(bitPattern: smallest))
            statistics.maxValue = Self.littleEndian(UInt64(bitPattern: largest))
            statistics.legacy = true
        }
        chunk.statistics = statistics
        // DELTA_BINARY_PACKED pays on sorted values (each series' times); a page ends before a
        // step back (the next series) once it holds `deltaPageMinimum` values, so its deltas stay
        // small. A page whose miniblocks would need more than `deltaMaxWidth` bits, or that
        // delta makes no smaller, is PLAIN: fastparquet mis-decodes wider miniblocks.
        var ends: [Int] = []
        var start = 0
        while start < values.count {
            var end = min(values.count, start + options.pageRows)
            var i = start + Self.deltaPageMinimum
            while i < end {
                if values[i] < values[i - 1] { end = i; break }
                i += 1
            }
            ends.append(end)
            start = end
        }
        try pages(&chunk, rows: values.count, nullMarks: nil, present: values, pageEnds: ends) { slice, out in
            let mark = out.count
            let width = ParquetEncoding.deltaBinaryPacked(slice, into: &out)
            if width <= Self.deltaMaxWidth && out.count - mark < slice.count * 8 { return 5 }  // DELTA_BINARY_PACKED
            out.removeSubrange(mark...)
            ParquetEncoding.plain(slice, into: &out)
            return 0  // PLAIN
        }
        return try finish(chunk)
    }

    private func writeDoubles(_ column: ParquetColumn, _ values: [Double]) throws -> ColumnChunkMetadata {
        var chunk = ChunkBuilder(column: column, physicalType: 5, codec: options.compression.codec, start: offset)
        chunk.statistics = Self.doubleStatistics(values)
        // A dictionary pays when few distinct values repeat (rounded readings, set points).
        let limit = min(values.count / 4, 1 << 16)
        var lookup: [UInt64: Int32] = [:]
        var dictionary: [Double] = []
        var indices: [Int32] = []
        indices.reserveCapacity(values.count)
        for value in values {
            if let known = lookup[value.bitPattern] {
                indices.append(known)
                continue
            }
            if dictionary.count >= limit { break }
            lookup[value.bitPattern] = Int32(dictionary.count)
            indices.append(Int32(dictionary.count))
            dictionary.append(value)
        }
        let width = Self.indexWidth(dictionary.count)
        if indices.count == values.count && dictionary.count * 8 + values.count * width / 8 < values.count * 8 {
            var plain: [UInt8] = []
            ParquetEncoding.plain(dictionary[...], into: &plain)
            try page(&chunk, dictionary: plain, count: dictionary.count)
            try pages(&chunk, rows: values.count, nullMarks: nil, present: indices) { slice, out in
                out.append(UInt8(width))
                ParquetEncoding.rleHybrid(slice.map { UInt32(bitPattern: $0) }, width: width, into: &out)
                return 8  // RLE_DICTIONARY
            }
        } else {
            try pages(&chunk, rows: values.count, nullMarks: nil, present: values) { slice, out in
                ParquetEncoding.plain(slice, into: &out)
                return 0  // PLAIN
            }
        }
        return try finish(chunk)
    }
}
