import Compression
import Testing
@testable import Parquet

/// The bytes the Parquet and Thrift specifications pin, checked byte for byte, and the
/// encodings round-tripped through decoders written here from the specification's text.
@Suite("Parquet encodings")
struct ParquetEncodingTests {
    @Test("Thrift compact: field deltas, long ids, zigzag varints, bools in the type nibble, nested structs, list headers")
    func thriftCompact() {
        var out = ThriftCompactWriter()
        out.i32(1, 2)            // delta 1, i32 (5); zigzag(2) = 4
        out.i64(3, -1)           // delta 2, i64 (6); zigzag(-1) = 1
        out.bool(4, true)        // delta 1, true (1)
        out.bool(5, false)       // delta 1, false (2)
        out.string(6, "ab")      // delta 1, binary (8); length 2
        out.i32(40, 300)         // delta 34 > 15: type byte, then zigzag(40) = 80; zigzag(300) = 600 = 0xD8 0x04
        out.beginStruct(41)      // delta 1, struct (12)
        out.i16(1, -2)           // ids restart at 0 inside: delta 1, i16 (4); zigzag(-2) = 3
        out.endStruct()
        out.beginList(42, of: .i32, count: 2)
        out.listI32(0); out.listI32(-3)
        out.beginList(43, of: .binary, count: 15)
        for _ in 0..<15 { out.listBinary([]) }
        out.stop()
        let expected: [UInt8] = [0x15, 0x04, 0x26, 0x01, 0x11, 0x12, 0x18, 0x02, 0x61, 0x62,
                                 0x05, 0x50, 0xD8, 0x04, 0x1C, 0x14, 0x03, 0x00,
                                 0x19, 0x25, 0x00, 0x05,
                                 0x19, 0xF8, 0x0F] + [UInt8](repeating: 0, count: 15) + [0x00]
        #expect(out.bytes == expected)
        // A field id below the previous one is written in full.
        var back = ThriftCompactWriter()
        back.i32(5, 0); back.i32(2, 0)
        #expect(back.bytes == [0x55, 0x00, 0x05, 0x04, 0x00])
    }

    @Test("zigzag and ULEB128 at the edges of Int64")
    func varints() {
        #expect(ThriftCompactWriter.zigzag(0) == 0)
        #expect(ThriftCompactWriter.zigzag(-1) == 1)
        #expect(ThriftCompactWriter.zigzag(1) == 2)
        #expect(ThriftCompactWriter.zigzag(Int64.max) == UInt64.max - 1)
        #expect(ThriftCompactWriter.zigzag(Int64.min) == UInt64.max)
        var bytes: [UInt8] = []
        Varint.append(300, to: &bytes)
        #expect(bytes == [0xAC, 0x02])
        bytes = []
        Varint.append(UInt64.max, to: &bytes)
        #expect(bytes == [UInt8](repeating: 0xFF, count: 9) + [0x01])
    }

    @Test("bit packing: the specification's example (0 … 7 on 3 bits is 0x88 0xC6 0xFA) and 64-bit values")
    func bitPacking() {
        var out: [UInt8] = []
        ParquetEncoding.bitPack((0..<8).map { UInt64($0) }, width: 3, into: &out)
        #expect(out == [0x88, 0xC6, 0xFA])
        out = []
        ParquetEncoding.bitPack([UInt64.max, 1, 0, UInt64(1) << 63], width: 64, into: &out)
        #expect(Decode.unpack(out, width: 64, count: 4) == [UInt64.max, 1, 0, UInt64(1) << 63])
        for width in 1...64 {
            let mask: UInt64 = width == 64 ? .max : (1 << UInt64(width)) - 1
            let values = (0..<40).map { UInt64($0) &* 0x9E37_79B9_7F4A_7C15 & mask }
            var packed: [UInt8] = []
            ParquetEncoding.bitPack(values, width: width, into: &packed)
            #expect(packed.count == (40 * width + 7) / 8)
            #expect(Decode.unpack(packed, width: width, count: 40) == values, "width \(width)")
        }
    }

    @Test("RLE/bit-packing hybrid: runs, literal groups, padding only at the end")
    func rleHybrid() {
        var out: [UInt8] = []
        ParquetEncoding.rleHybrid([UInt32](repeating: 5, count: 8), width: 3, into: &out)
        #expect(out == [0x10, 0x05])
        out = []
        ParquetEncoding.rleHybrid([1, 2, 3], width: 2, into: &out)
        #expect(out == [0x03, 0x39, 0x00])
        out = []
        ParquetEncoding.rleHybrid([UInt32](repeating: 0, count: 1000), width: 1, into: &out)
        #expect(out == [0xD0, 0x0F, 0x00])
        out = []
        ParquetEncoding.rleHybrid([0x1234_5678, 0x1234_5678] + [UInt32](repeating: 0x1234_5678, count: 8), width: 29, into: &out)
        #expect(out == [0x14, 0x78, 0x56, 0x34, 0x12])
        // Mixed: literals, a run that starts mid-group, more literals; decoded back.
        var generator = SplitMix(seed: 7)
        for _ in 0..<200 {
            let width = Int(generator.next() % 20) + 1
            var values: [UInt32] = []
            for _ in 0..<Int(generator.next() % 700) {
                let value = UInt32(generator.next() & ((1 << UInt64(width)) - 1))
                values.append(contentsOf: [UInt32](repeating: value, count: generator.next() % 3 == 0 ? Int(generator.next() % 40) : 1))
            }
            var encoded: [UInt8] = []
            ParquetEncoding.rleHybrid(values, width: width, into: &encoded)
            #expect(Decode.rleHybrid(encoded, width: width, count: values.count) == values)
        }
    }

    @Test("DELTA_BINARY_PACKED: header and blocks as the specification lays them out; every Int64 round-trips")
    func deltaBinaryPacked() {
        var out: [UInt8] = []
        ParquetEncoding.deltaBinaryPacked([1, 2, 3, 4, 5] as [Int64], into: &out)
        // 128 per block, 4 miniblocks, 5 values, first 1 (zigzag 2); min delta 1 (zigzag 2), widths 0.
        #expect(out == [0x80, 0x01, 0x04, 0x05, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00])
        out = []
        ParquetEncoding.deltaBinaryPacked([7, 5, 3, 1, 2, 3, 4, 5] as [Int64], into: &out)
        // Deltas -2 -2 -2 1 1 1 1: min -2 (zigzag 3), relative 0 0 0 3 3 3 3 on 2 bits, padded to 32 values.
        #expect(out == [0x80, 0x01, 0x04, 0x08, 0x0E, 0x03, 0x02, 0x00, 0x00, 0x00, 0xC0, 0x3F, 0, 0, 0, 0, 0, 0])
        out = []
        ParquetEncoding.deltaBinaryPacked([] as [Int64], into: &out)
        #expect(out == [0x80, 0x01, 0x04, 0x00, 0x00])
        let edges: [Int64] = [Int64.min, Int64.max, 0, -1, Int64.min, Int64.min, 1, Int64.max, Int64.max - 1]
        var generator = SplitMix(seed: 3)
        for values in [edges, (0..<1000).map { Int64($0) * 1_000_000 + 1_700_000_000_000_000 },
                       (0..<257).map { _ in Int64(bitPattern: generator.next()) }, [42], (0..<129).map { Int64(-$0) }] {
            var encoded: [UInt8] = []
            ParquetEncoding.deltaBinaryPacked(values, into: &encoded)
            #expect(Decode.deltaBinaryPacked(encoded) == values)
        }
    }

    @Test("PLAIN: little-endian numbers, length-prefixed byte arrays")
    func plain() {
        var out: [UInt8] = []
        ParquetEncoding.plain([1, -2] as ArraySlice<Int64>, into: &out)
        #expect(out == [1, 0, 0, 0, 0, 0, 0, 0, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
        out = []
        ParquetEncoding.plain([1.0] as ArraySlice<Double>, into: &out)
        #expect(out == [0, 0, 0, 0, 0, 0, 0xF0, 0x3F])
        out = []
        ParquetEncoding.plain(byteArray: [0x00, 0x61], into: &out)
        #expect(out == [2, 0, 0, 0, 0x00, 0x61])
    }

    @Test("ZSTD and Snappy round-trip, empty input included")
    func compression() throws {
        var generator = SplitMix(seed: 11)
        let zstd = try ZstdCompressor(level: 3)
        for input in [[], [UInt8](repeating: 7, count: 100_000), (0..<5000).map { _ in UInt8(truncatingIfNeeded: generator.next()) }] {
            #expect(try Zstd.decompress(try zstd.compress(input), size: input.count) == input)
            #expect(try Snappy.decompress(try Snappy.compress(input), size: input.count) == input)
        }
        #expect(throws: CompressionFailure.self) { try Zstd.decompress([1, 2, 3], size: 3) }
        #expect(throws: CompressionFailure.self) { try Snappy.decompress(try Snappy.compress([1, 2, 3]), size: 4) }
    }
}

/// A deterministic generator for the property checks.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
