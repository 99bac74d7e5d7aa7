import Compression
import Testing
@testable import Parquet

/// Whole files: written, then read back here through the footer, the page headers and the
/// encodings (pyarrow, duckdb and fastparquet read the lake's files in the integration tests).
@Suite("Parquet writer")
struct ParquetWriterTests {
    static let columns = [
        ParquetColumn("device", .string), ParquetColumn("unit", .string, nullable: true),
        ParquetColumn("ts", .timestampMicros), ParquetColumn("value", .double), ParquetColumn("count", .int64),
    ]

    /// Column values as the reader below returns them.
    enum Value: Equatable { case bytes([UInt8]?), int(Int64), double(UInt64) }

    static func rowGroup(_ rows: Range<Int>, names: (Int) -> [UInt8]) -> [ParquetColumnData] {
        var devices = ParquetStrings(), units = ParquetStrings()
        for row in rows {
            devices.append(names(row))
            if row % 3 == 0 { units.appendNull() } else { units.append(row % 2 == 0 ? "°C" : "") }
        }
        return [.strings(devices), .strings(units),
                .int64(rows.map { 1_700_000_000_000_000 + Int64($0) * 1_000_000 }),
                .double(rows.map { $0 % 5 == 0 ? 1e308 : Double($0 % 7) * -0.5 }),
                .int64(rows.map { $0 == 0 ? Int64.min : $0 == 1 ? Int64.max : Int64($0) })]
    }

    @Test("footer, statistics, sorting and every value read back, for each codec, with several pages and row groups", arguments: ParquetCompression.allCases)
    func roundTrip(compression: ParquetCompression) throws {
        let sink = ParquetMemorySink()
        let writer = try ParquetWriter(columns: Self.columns, options: ParquetOptions(compression: compression, pageRows: 100, sortingColumns: [0, 2],
                                                                                      keyValueMetadata: [("day", "2026-12-03")], dictionaryLimitBytes: 1 << 20), sink: sink)
        let few: (Int) -> [UInt8] = { Array("sensor_\($0 / 100)".utf8) + [0] }  // a NUL byte inside
        let unique: (Int) -> [UInt8] = { Array("device-with-a-long-unique-name-\($0)".utf8) }
        try writer.write(rowGroup: Self.rowGroup(0..<250, names: few))
        try writer.write(rowGroup: Self.rowGroup(250..<251, names: unique))
        try writer.write(rowGroup: Self.rowGroup(0..<0, names: few))
        try writer.write(rowGroup: Self.rowGroup(251..<600, names: unique))
        let summary = try writer.close()
        let file = sink.bytes
        #expect(summary == ParquetFileSummary(rows: 600, rowGroups: 3, bytes: Int64(file.count)))
        #expect(Array(file.prefix(4)) == Array("PAR1".utf8) && Array(file.suffix(4)) == Array("PAR1".utf8))
        let length = Int(file[file.count - 8]) | Int(file[file.count - 7]) << 8 | Int(file[file.count - 6]) << 16 | Int(file[file.count - 5]) << 24
        var at = file.count - 8 - length
        let footer = Thrift.structure(file, &at)
        #expect(at == file.count - 8)
        #expect(footer[1]?.int == 2 && footer[3]?.int == 600 && footer[6]?.string == "telemetry-parquet version 1.0.0")
        let schema = footer[2]?.list ?? []
        #expect(schema.map { $0[4]?.string } == ["schema", "device", "unit", "ts", "value", "count"])
        #expect(schema.dropFirst().map { $0[1]?.int } == [6, 6, 2, 5, 2])
        #expect(schema.dropFirst().map { $0[3]?.int } == [0, 1, 0, 0, 0])
        #expect(schema[3][10]?[8]?[1] == .bool(true), "ts is TIMESTAMP adjusted to UTC")
        #expect(footer[5]?.list.first?[1]?.string == "day")
        #expect(footer[7]?.list.count == 5)
        let groups = footer[4]?.list ?? []
        #expect(groups.map { $0[3]?.int } == [250, 1, 349])
        #expect(groups[0][4]?.list.map { $0[1]?.int } == [0, 2])

        var read = [[Value]](repeating: [], count: 5)
        for group in groups {
            for (index, chunk) in (group[1]?.list ?? []).enumerated() {
                read[index] += try Self.readChunk(chunk[3]!, column: Self.columns[index], file: file)
            }
        }
        let expected = Self.rowGroup(0..<250, names: few).map(Self.values) + [[], [], [], [], []]
        let tail = zip(Self.rowGroup(250..<251, names: unique).map(Self.values), Self.rowGroup(251..<600, names: unique).map(Self.values)).map { $0 + $1 }
        for index in 0..<5 { #expect(read[index] == expected[index] + tail[index], "column \(Self.columns[index].name)") }

        // Statistics of the first row group: strings by unsigned bytes, signed integers, doubles with -0.0.
        let first = (groups[0][1]?.list ?? []).map { $0[3]! }
        #expect(first[0][12]?[6]?.bytes == Array("sensor_0".utf8) + [0] && first[0][12]?[5]?.bytes == Array("sensor_2".utf8) + [0])
        #expect(first[1][12]?[3]?.int == 84 && first[1][12]?[6]?.bytes == [] && first[1][12]?[5]?.bytes == Array("°C".utf8))
        #expect(first[4][12]?[6]?.bytes == ParquetWriter.littleEndian(UInt64(bitPattern: Int64.min)))
        #expect(first[3][12]?[5]?.bytes == ParquetWriter.littleEndian((1e308).bitPattern))
        #expect(first[3][12]?[6]?.bytes == ParquetWriter.littleEndian((-3.0).bitPattern))
        #expect(first[0][2]?.list.map { $0.int } == [0, 8], "device is dictionary-encoded")
        #expect(first[2][2]?.list.map { $0.int } == [5], "timestamps are delta-encoded")
        let second = (groups[2][1]?.list ?? []).map { $0[3]! }
        #expect(second[0][2]?.list.map { $0.int } == [0, 8], "unique names below the dictionary limit are dictionary-encoded too")
    }

    @Test("timestamps of several series: a page ends where the next series starts, each page delta-encoded within 24 bits or PLAIN, all read back")
    func seriesPages() throws {
        let sink = ParquetMemorySink()
        let column = ParquetColumn("ts", .timestampMicros)
        let writer = try ParquetWriter(columns: [column], options: ParquetOptions(pageRows: 5000), sink: sink)
        // Three series of 2000 readings a second apart, then 1500 with a wide jitter (PLAIN).
        var values: [Int64] = []
        for series in 0..<3 { values += (0..<2000).map { 1_700_000_000_000_000 + Int64(series * 7) + Int64($0) * 1_000_000 } }
        values += (0..<1500).map { 1_700_000_000_000_000 + Int64($0) * 1_000_000 + ($0 % 2 == 0 ? 0 : 40_000_000_000) }
        try writer.write(rowGroup: [.int64(values)])
        try writer.close()
        let file = sink.bytes
        let length = Int(file[file.count - 8]) | Int(file[file.count - 7]) << 8
        var at = file.count - 8 - length
        let chunk = Thrift.structure(file, &at)[4]!.list[0][1]!.list[0][3]!
        #expect(chunk[2]?.list.map { $0.int } == [5, 0])
        // Pages: 2000 | 2000 | 2000 (each series alone), then the jittery one (it steps back every
        // other value): cut after the minimum of 1024 values, PLAIN.
        var offset = Int(chunk[9]!.int!)
        var pages: [(Int64, Int64)] = []
        while offset < Int(chunk[9]!.int!) + Int(chunk[7]!.int!) {
            let header = Thrift.structure(file, &offset)
            pages.append((header[5]![1]!.int!, header[5]![2]!.int!))
            offset += Int(header[3]!.int!)
        }
        #expect(pages.map(\.0) == [2000, 2000, 2000, 1024, 476] && pages.map(\.1) == [5, 5, 5, 0, 0], "\(pages)")
        #expect(try Self.readChunk(chunk, column: column, file: file) == values.map { .int($0) })
    }

    @Test("text past the dictionary limit is written PLAIN and reads back")
    func plainText() throws {
        let sink = ParquetMemorySink()
        let column = ParquetColumn("name", .string, nullable: true)
        let writer = try ParquetWriter(columns: [column], options: ParquetOptions(compression: .snappy, pageRows: 7, dictionaryLimitBytes: 10), sink: sink)
        var names = ParquetStrings()
        for i in 0..<40 { if i % 4 == 0 { names.appendNull() } else { names.append("name-\(i)") } }
        try writer.write(rowGroup: [.strings(names)])
        try writer.close()
        let file = sink.bytes
        let length = Int(file[file.count - 8]) | Int(file[file.count - 7]) << 8
        var at = file.count - 8 - length
        let chunk = Thrift.structure(file, &at)[4]!.list[0][1]!.list[0][3]!
        #expect(chunk[2]?.list.map { $0.int } == [3, 0])
        #expect(try Self.readChunk(chunk, column: column, file: file) == Self.values(.strings(names)))
    }

    @Test("doubles: NaN kept out of min/max, -0.0 as the minimum and +0.0 as the maximum, all-NaN without statistics")
    func doubleStatistics() {
        let zeros = ParquetWriter.doubleStatistics([0.0, .nan, 0.0])
        #expect(zeros.minValue == ParquetWriter.littleEndian((-0.0).bitPattern) && zeros.maxValue == ParquetWriter.littleEndian((0.0).bitPattern))
        #expect(ParquetWriter.doubleStatistics([.nan, .nan]).minValue == nil)
        let mixed = ParquetWriter.doubleStatistics([.infinity, -1e308, .nan])
        #expect(mixed.maxValue == ParquetWriter.littleEndian(Double.infinity.bitPattern))
    }

    @Test("a row group that does not match the schema is refused and the file stays writable")
    func mismatch() throws {
        let writer = try ParquetWriter(columns: [ParquetColumn("a", .int64), ParquetColumn("b", .string)], sink: ParquetMemorySink())
        #expect(throws: ParquetError.self) { try writer.write(rowGroup: [.int64([1])]) }
        #expect(throws: ParquetError.self) { try writer.write(rowGroup: [.int64([1]), .double([1])]) }
        #expect(throws: ParquetError.self) { try writer.write(rowGroup: [.int64([1, 2]), .strings(ParquetStrings())]) }
        var missing = ParquetStrings(); missing.appendNull()
        #expect(throws: ParquetError.self) { try writer.write(rowGroup: [.int64([1]), .strings(missing)]) }
        var one = ParquetStrings(); one.append("x")
        try writer.write(rowGroup: [.int64([1]), .strings(one)])
        #expect(try writer.close().rows == 1)
        #expect(throws: ParquetError.self) { try writer.close() }
    }

    static func values(_ data: ParquetColumnData) -> [Value] {
        switch data {
        case .strings(let s): s.indices.map { .bytes($0 < 0 ? nil : s.dictionary[Int($0)]) }
        case .int64(let v): v.map { .int($0) }
        case .double(let v): v.map { .double($0.bitPattern) }
        }
    }

    /// Reads a column chunk's pages: PLAIN dictionary, RLE_DICTIONARY / PLAIN / DELTA_BINARY_PACKED data.
    static func readChunk(_ meta: Thrift, column: ParquetColumn, file: [UInt8]) throws -> [Value] {
        var at = Int(meta[11]?.int ?? meta[9]!.int!)
        let total = Int(meta[5]!.int!)
        var dictionary: [Value] = []
        var values: [Value] = []
        while values.count < total {
            let header = Thrift.structure(file, &at)
            let size = Int(header[3]!.int!), rawSize = Int(header[2]!.int!)
            let stored = Array(file[at..<(at + size)])
            at += size
            let body: [UInt8] = switch meta[4]!.int! {
            case 1: try Snappy.decompress(stored, size: rawSize)
            case 6: try Zstd.decompress(stored, size: rawSize)
            default: stored
            }
            if header[1]?.int == 2 {
                dictionary = plain(body, column: column, count: Int(header[7]![1]!.int!))
                continue
            }
            let count = Int(header[5]![1]!.int!)
            var offset = 0
            var present = [Bool](repeating: true, count: count)
            if column.nullable {
                let length = Int(body[0]) | Int(body[1]) << 8 | Int(body[2]) << 16 | Int(body[3]) << 24
                present = Decode.rleHybrid(Array(body[4..<(4 + length)]), width: 1, count: count).map { $0 == 1 }
                offset = 4 + length
            }
            let rest = Array(body[offset...])
            let n = present.filter { $0 }.count
            let decoded: [Value] = switch header[5]![2]!.int! {
            case 8: Decode.rleHybrid(Array(rest.dropFirst()), width: Int(rest[0]), count: n).map { dictionary[Int($0)] }
            case 5: Decode.deltaBinaryPacked(rest).map { .int($0) }
            default: plain(rest, column: column, count: n)
            }
            var next = decoded.makeIterator()
            for isPresent in present { values.append(isPresent ? next.next()! : .bytes(nil)) }
        }
        return values
    }

    static func plain(_ bytes: [UInt8], column: ParquetColumn, count: Int) -> [Value] {
        var at = 0
        return (0..<count).map { _ in
            func word(_ n: Int) -> UInt64 { defer { at += n }; return (0..<n).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << UInt64(8 * $1) } }
            switch column.kind {
            case .string:
                let n = Int(word(4)); at += n
                return .bytes(Array(bytes[(at - n)..<at]))
            case .double: return .double(word(8))
            case .int64, .timestampMicros: return .int(Int64(bitPattern: word(8)))
            }
        }
    }
}
