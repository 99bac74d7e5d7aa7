import Compression

/// One column chunk being assembled: its pages' bytes and what its metadata will say.
struct ChunkBuilder {
    let column: ParquetColumn
    let physicalType: Int32
    let codec: Int32
    let start: Int64
    var bytes: [UInt8] = []
    var encodings: [Int32] = []
    var numValues: Int64 = 0
    var totalUncompressedSize: Int64 = 0
    var dataPageOffset: Int64?
    var dictionaryPageOffset: Int64?
    var statistics = Statistics(nullCount: 0)

    init(column: ParquetColumn, physicalType: Int32, codec: Int32, start: Int64) {
        self.column = column
        self.physicalType = physicalType
        self.codec = codec
        self.start = start
    }

    mutating func uses(_ encoding: Int32) { if !encodings.contains(encoding) { encodings.append(encoding) } }
}

extension ParquetWriter {
    /// The dictionary page (PLAIN entries) that opens a dictionary-encoded chunk.
    func page(_ chunk: inout ChunkBuilder, dictionary body: [UInt8], count: Int) throws {
        chunk.dictionaryPageOffset = chunk.start + Int64(chunk.bytes.count)
        chunk.uses(0)
        try append(&chunk, type: 2, body: body) { header in  // DICTIONARY_PAGE
            header.beginStruct(7)
            header.i32(1, Int32(count))
            header.i32(2, 0)  // PLAIN
            header.endStruct()
        }
    }

    /// Compresses `body` and appends it to the chunk behind its `PageHeader` (type, sizes, and
    /// the type's own header that `specific` writes).
    private func append(_ chunk: inout ChunkBuilder, type: Int32, body: [UInt8], specific: (inout ThriftCompactWriter) -> Void) throws {
        let compressed = try compress(body)
        try Self.checkSize(body, compressed, chunk.column)
        var header = ThriftCompactWriter()
        header.i32(1, type)
        header.i32(2, Int32(body.count))
        header.i32(3, Int32(compressed.count))
        specific(&header)
        header.stop()
        chunk.totalUncompressedSize += Int64(header.bytes.count + body.count)
        chunk.bytes.append(contentsOf: header.bytes)
        chunk.bytes.append(contentsOf: compressed)
    }

    /// The chunk's data pages (v1), ending at `pageEnds` (default: every ``ParquetOptions/pageRows``
    /// rows): definition levels when the column is nullable (`nullMarks` < 0 is a missing
    /// value), then the present values as `encode` writes them; it returns the page's encoding.
    func pages<T>(_ chunk: inout ChunkBuilder, rows: Int, nullMarks: [Int32]?, present: [T], pageEnds: [Int]? = nil,
                  encode: (ArraySlice<T>, inout [UInt8]) -> Int32) throws {
        var row = 0
        var cursor = 0
        if nullMarks != nil { chunk.uses(3) }  // RLE definition levels
        var ends = (pageEnds ?? Array(stride(from: options.pageRows, to: rows, by: options.pageRows)) + [rows]).makeIterator()
        while row < rows, let end = ends.next() {
            var body: [UInt8] = []
            var presentCount = end - row
            if let nullMarks {
                let levels = nullMarks[row..<end].map { $0 < 0 ? UInt32(0) : UInt32(1) }
                presentCount = levels.reduce(0) { $0 + Int($1) }
                var encoded: [UInt8] = []
                ParquetEncoding.rleHybrid(levels, width: 1, into: &encoded)
                ParquetEncoding.appendLittleEndian(UInt32(encoded.count), to: &body)
                body.append(contentsOf: encoded)
            }
            let valueEncoding = encode(present[cursor..<(cursor + presentCount)], &body)
            chunk.uses(valueEncoding)
            cursor += presentCount
            if chunk.dataPageOffset == nil { chunk.dataPageOffset = chunk.start + Int64(chunk.bytes.count) }
            let values = Int32(end - row)
            try append(&chunk, type: 0, body: body) { header in  // DATA_PAGE
                header.beginStruct(5)
                header.i32(1, values)
                header.i32(2, valueEncoding)
                header.i32(3, 3)  // RLE definition levels
                header.i32(4, 3)  // RLE repetition levels (none: the schema is flat)
                header.endStruct()
            }
            chunk.numValues += Int64(end - row)
            row = end
        }
    }

    /// Writes the chunk's bytes and returns its metadata.
    func finish(_ chunk: ChunkBuilder) throws -> ColumnChunkMetadata {
        try sinkWrite(chunk.bytes)
        return ColumnChunkMetadata(
            name: chunk.column.name, physicalType: chunk.physicalType, encodings: chunk.encodings, codec: chunk.codec,
            numValues: chunk.numValues, totalUncompressedSize: chunk.totalUncompressedSize,
            totalCompressedSize: Int64(chunk.bytes.count), dataPageOffset: chunk.dataPageOffset ?? chunk.start,
            dictionaryPageOffset: chunk.dictionaryPageOffset, statistics: chunk.statistics)
    }

    func compress(_ body: [UInt8]) throws -> [UInt8] {
        do throws(CompressionFailure) {
            switch options.compression {
            case .uncompressed: return body
            case .snappy: return try Snappy.compress(body)
            case .zstd:
                guard let zstdCompressor else { throw CompressionFailure.failed("no ZSTD context") }
                return try zstdCompressor.compress(body)
            }
        } catch {
            throw ParquetError.compression(error.description)
        }
    }

    /// A page's sizes are i32 in its header: a page of 2 GiB or more cannot be described.
    static func checkSize(_ body: [UInt8], _ compressed: [UInt8], _ column: ParquetColumn) throws {
        guard body.count <= Int(Int32.max), compressed.count <= Int(Int32.max) else {
            throw ParquetError.pageTooLarge(column: column.name, bytes: max(body.count, compressed.count))
        }
    }

    /// Bits per dictionary index: enough for `count` entries, at least 1.
    static func indexWidth(_ count: Int) -> Int { max(1, ParquetEncoding.bitWidth(UInt64(max(count, 1) - 1))) }

    static func littleEndian(_ value: UInt64) -> [UInt8] {
        var out: [UInt8] = []
        ParquetEncoding.appendLittleEndian(value, to: &out)
        return out
    }

    /// Min and max without NaN (none when every value is NaN); a zero minimum is written as
    /// -0.0 and a zero maximum as +0.0, as the specification asks.
    static func doubleStatistics(_ values: [Double]) -> Statistics {
        var statistics = Statistics(nullCount: 0)
        var smallest = Double.infinity, largest = -Double.infinity, any = false
        for value in values where !value.isNaN {
            any = true
            if value < smallest { smallest = value }
            if value > largest { largest = value }
        }
        guard any else { return statistics }
        if smallest == 0 { smallest = -0.0 }
        if largest == 0 { largest = 0.0 }
        statistics.minValue = littleEndian(smallest.bitPattern)
        statistics.maxValue = littleEndian(largest.bitPattern)
        statistics.legacy = true
        return statistics
    }
}
