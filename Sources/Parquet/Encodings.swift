/// The value encodings of the Parquet specification (Encodings.md) that the lake writes: PLAIN,
/// the RLE/bit-packing hybrid (dictionary indices and definition levels) and DELTA_BINARY_PACKED
/// (sorted timestamps).
public enum ParquetEncoding {
    /// Bits needed for `value` (0 for 0).
    @inline(__always)
    public static func bitWidth(_ value: UInt64) -> Int { 64 - value.leadingZeroBitCount }

    /// Packs `values` (each below 2^width) least significant bit first, as the hybrid and the
    /// delta encodings both do; the last byte is padded with zeros.
    public static func bitPack<Values: Collection<UInt64>>(_ values: Values, width: Int, into out: inout [UInt8]) {
        guard width > 0 else { return }
        var accumulator: UInt64 = 0
        var bits = 0
        for value in values {
            // At most 7 bits wait in the accumulator, so a value of up to 57 bits fits beside
            // them; wider values are split.
            var remaining = width
            var v = value
            while remaining > 0 {
                let take = min(remaining, 64 - bits, 56)
                let mask: UInt64 = take == 64 ? ~0 : (1 << UInt64(take)) - 1
                accumulator |= (v & mask) << UInt64(bits)
                bits += take
                remaining -= take
                v = take == 64 ? 0 : v >> UInt64(take)
                while bits >= 8 {
                    out.append(UInt8(truncatingIfNeeded: accumulator))
                    accumulator >>= 8
                    bits -= 8
                }
            }
        }
        if bits > 0 { out.append(UInt8(truncatingIfNeeded: accumulator)) }
    }

    /// The RLE/bit-packing hybrid of `values` at `width` bits (no length prefix, no width byte):
    /// runs of 8 or more equal values as RLE runs, the rest bit-packed 8 at a time (at most 504
    /// per run, so each header is one byte); only the last bit-packed group is padded.
    public static func rleHybrid(_ values: [UInt32], width: Int, into out: inout [UInt8]) {
        let valueBytes = (width + 7) / 8
        var literals: [UInt64] = []
        literals.reserveCapacity(504)
        func flushLiterals(padding: Bool) {
            guard !literals.isEmpty else { return }
            if padding { while literals.count % 8 != 0 { literals.append(0) } }
            Varint.append(UInt64(literals.count / 8) << 1 | 1, to: &out)
            bitPack(literals, width: width, into: &out)
            literals.removeAll(keepingCapacity: true)
        }
        func repeated(_ value: UInt32, count: Int) {
            Varint.append(UInt64(count) << 1, to: &out)
            for byte in 0..<valueBytes { out.append(UInt8(truncatingIfNeeded: value >> UInt32(8 * byte))) }
        }
        var i = 0
        while i < values.count {
            let value = values[i]
            var run = 1
            while i + run < values.count && values[i + run] == value { run += 1 }
            let fill = (8 - literals.count % 8) % 8
            if run >= 8 + fill {
                // Complete the pending group with the run's first values, then repeat the rest.
                for _ in 0..<fill { literals.append(UInt64(value)) }
                flushLiterals(padding: false)
                repeated(value, count: run - fill)
                i += run
            } else {
                literals.append(UInt64(value))
                i += 1
                if literals.count == 504 { flushLiterals(padding: false) }
            }
        }
        flushLiterals(padding: true)
    }

    /// DELTA_BINARY_PACKED of `values`: blocks of 128 values in 4 miniblocks of 32, each with
    /// its own bit width; differences wrap (two's complement) so every Int64 is representable.
    /// Returns the widest miniblock's bit width.
    @discardableResult
    public static func deltaBinaryPacked<Values: RandomAccessCollection<Int64>>(_ values: Values, into out: inout [UInt8]) -> Int where Values.Index == Int {
        let blockSize = 128, miniblocks = 4, miniblockSize = 32
        Varint.append(UInt64(blockSize), to: &out)
        Varint.append(UInt64(miniblocks), to: &out)
        Varint.append(UInt64(values.count), to: &out)
        guard let first = values.first else {
            Varint.append(0, to: &out)
            return 0
        }
        Varint.append(ThriftCompactWriter.zigzag(first), to: &out)
        var deltas = [Int64](repeating: 0, count: blockSize)
        var relative = [UInt64](repeating: 0, count: blockSize)
        var index = values.startIndex + 1
        var previous = first
        var widest = 0
        while index < values.endIndex {
            let count = min(blockSize, values.endIndex - index)
            var minimum = Int64.max
            for k in 0..<count {
                let value = values[index + k]
                let delta = value &- previous
                deltas[k] = delta
                minimum = min(minimum, delta)
                previous = value
            }
            var widths = [UInt8](repeating: 0, count: miniblocks)
            for k in 0..<count { relative[k] = UInt64(bitPattern: deltas[k] &- minimum) }
            let used = (count + miniblockSize - 1) / miniblockSize
            for m in 0..<used {
                var bits: UInt64 = 0
                for k in (m * miniblockSize)..<min(count, (m + 1) * miniblockSize) { bits |= relative[k] }
                widths[m] = UInt8(bitWidth(bits))
                widest = max(widest, Int(widths[m]))
            }
            Varint.append(ThriftCompactWriter.zigzag(minimum), to: &out)
            out.append(contentsOf: widths)
            for m in 0..<used {
                let start = m * miniblockSize
                // A partial last miniblock is padded with zeros to its full length.
                if count < start + miniblockSize { for k in count..<(start + miniblockSize) { relative[k] = 0 } }
                bitPack(relative[start..<(start + miniblockSize)], width: Int(widths[m]), into: &out)
            }
            index += count
        }
        return widest
    }

    /// PLAIN Int64s: 8 bytes little-endian each.
    public static func plain(_ values: ArraySlice<Int64>, into out: inout [UInt8]) {
        out.reserveCapacity(out.count + values.count * 8)
        for value in values { appendLittleEndian(UInt64(bitPattern: value), to: &out) }
    }

    /// PLAIN doubles: the IEEE 754 bits, 8 bytes little-endian each.
    public static func plain(_ values: ArraySlice<Double>, into out: inout [UInt8]) {
        out.reserveCapacity(out.count + values.count * 8)
        for value in values { appendLittleEndian(value.bitPattern, to: &out) }
    }

    /// PLAIN byte array: a 4-byte little-endian length, then the bytes.
    @inline(__always)
    public static func plain(byteArray value: [UInt8], into out: inout [UInt8]) {
        appendLittleEndian(UInt32(value.count), to: &out)
        out.append(contentsOf: value)
    }

    /// `value`'s bytes, least significant first.
    @inline(__always)
    public static func appendLittleEndian<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        var v = value
        for _ in 0..<(T.bitWidth / 8) {
            out.append(UInt8(truncatingIfNeeded: v))
            v >>= 8
        }
    }
}
