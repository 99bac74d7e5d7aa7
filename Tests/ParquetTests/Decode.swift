/// Decoders written from the specifications' text, independent of the writer's code: they read
/// back what the writer wrote.
enum Decode {
    static func varint(_ bytes: [UInt8], _ at: inout Int) -> UInt64 {
        var value: UInt64 = 0, shift: UInt64 = 0
        while true {
            let byte = bytes[at]; at += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
    }

    static func unzigzag(_ value: UInt64) -> Int64 { Int64(bitPattern: value >> 1) ^ -Int64(bitPattern: value & 1) }

    /// Values packed least significant bit first.
    static func unpack(_ bytes: [UInt8], width: Int, count: Int, from start: Int = 0) -> [UInt64] {
        var values: [UInt64] = []
        for i in 0..<count {
            var value: UInt64 = 0
            for bit in 0..<width {
                let position = i * width + bit
                if bytes[start + position / 8] >> UInt8(position % 8) & 1 == 1 { value |= 1 << UInt64(bit) }
            }
            values.append(value)
        }
        return values
    }

    static func rleHybrid(_ bytes: [UInt8], width: Int, count: Int) -> [UInt32] {
        var values: [UInt32] = []
        var at = 0
        while values.count < count {
            let header = varint(bytes, &at)
            if header & 1 == 0 {
                var value: UInt32 = 0
                for k in 0..<((width + 7) / 8) { value |= UInt32(bytes[at + k]) << UInt32(8 * k) }
                at += (width + 7) / 8
                values.append(contentsOf: [UInt32](repeating: value, count: Int(header >> 1)))
            } else {
                let n = Int(header >> 1) * 8
                values.append(contentsOf: unpack(bytes, width: width, count: n, from: at).map { UInt32($0) })
                at += n * width / 8
            }
        }
        return Array(values.prefix(count))
    }

    static func deltaBinaryPacked(_ bytes: [UInt8]) -> [Int64] {
        var at = 0
        let blockSize = Int(varint(bytes, &at)), miniblocks = Int(varint(bytes, &at))
        let total = Int(varint(bytes, &at))
        var previous = unzigzag(varint(bytes, &at))
        guard total > 0 else { return [] }
        var values = [previous]
        let perMiniblock = blockSize / miniblocks
        while values.count < total {
            let minimum = unzigzag(varint(bytes, &at))
            let widths = bytes[at..<(at + miniblocks)].map { Int($0) }
            at += miniblocks
            for width in widths where values.count < total {
                let deltas = unpack(bytes, width: width, count: perMiniblock, from: at)
                at += perMiniblock * width / 8
                for delta in deltas where values.count < total {
                    previous = previous &+ minimum &+ Int64(bitPattern: delta)
                    values.append(previous)
                }
            }
        }
        return values
    }
}

/// A Thrift compact struct read into field id → value, for checking footers and page headers.
indirect enum Thrift: Equatable {
    case bool(Bool), int(Int64), binary([UInt8]), list([Thrift]), structure([Int16: Thrift])

    subscript(_ id: Int16) -> Thrift? { if case .structure(let fields) = self { fields[id] } else { nil } }
    var int: Int64? { if case .int(let v) = self { v } else { nil } }
    var string: String? { if case .binary(let v) = self { String(decoding: v, as: UTF8.self) } else { nil } }
    var bytes: [UInt8]? { if case .binary(let v) = self { v } else { nil } }
    var list: [Thrift] { if case .list(let v) = self { v } else { [] } }

    static func structure(_ bytes: [UInt8], _ at: inout Int) -> Thrift {
        var fields: [Int16: Thrift] = [:]
        var last: Int16 = 0
        while true {
            let header = bytes[at]; at += 1
            if header == 0 { return .structure(fields) }
            let type = header & 0x0F
            let delta = Int16(header >> 4)
            let id = delta == 0 ? Int16(Decode.unzigzag(Decode.varint(bytes, &at))) : last + delta
            last = id
            fields[id] = value(type, bytes, &at)
        }
    }

    static func value(_ type: UInt8, _ bytes: [UInt8], _ at: inout Int) -> Thrift {
        switch type {
        case 1: return .bool(true)
        case 2: return .bool(false)
        case 3: at += 1; return .int(Int64(Int8(bitPattern: bytes[at - 1])))
        case 4, 5, 6: return .int(Decode.unzigzag(Decode.varint(bytes, &at)))
        case 8:
            let n = Int(Decode.varint(bytes, &at)); at += n
            return .binary(Array(bytes[(at - n)..<at]))
        case 9:
            let header = bytes[at]; at += 1
            var count = Int(header >> 4)
            if count == 15 { count = Int(Decode.varint(bytes, &at)) }
            return .list((0..<count).map { _ in
                header & 0x0F == 1 || header & 0x0F == 2 ? { at += 1; return .bool(bytes[at - 1] == 1) }() : value(header & 0x0F, bytes, &at)
            })
        case 12: return structure(bytes, &at)
        default: fatalError("type \(type) not used by Parquet's footer")
        }
    }
}
