/// Modbus RTU framing (Modbus over serial line, V1.02): CRC-16, read requests for holding (0x03)
/// and input (0x04) registers, and the parsing of their answers and exceptions.
public enum ModbusRTU {
    /// The register table a read addresses.
    public enum Table: String, Sendable, CaseIterable {
        /// Holding registers (read with function 0x03) and input registers (0x04).
        case holding, input
        /// The function code that reads this table: 0x03 (holding) or 0x04 (input).
        public var function: UInt8 { self == .holding ? 0x03 : 0x04 }
    }

    /// Most registers one read may ask for.
    public static let maxRegistersPerRead = 125

    /// CRC-16/MODBUS (polynomial 0xA001 reflected, initial 0xFFFF); sent low byte first.
    public static func crc16(_ bytes: some Sequence<UInt8>) -> UInt16 {
        var crc: UInt16 = 0xFFFF
        for byte in bytes {
            crc ^= UInt16(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xA001 : crc >> 1 }
        }
        return crc
    }

    /// `bytes` followed by their CRC.
    public static func framed(_ bytes: [UInt8]) -> [UInt8] {
        let crc = crc16(bytes)
        return bytes + [UInt8(crc & 0xFF), UInt8(crc >> 8)]
    }

    /// A read of `count` registers from `address` of `table` on `slave` (1…247).
    public static func readRequest(slave: UInt8, table: Table, address: UInt16, count: UInt16) -> [UInt8] {
        framed([slave, table.function, UInt8(address >> 8), UInt8(address & 0xFF), UInt8(count >> 8), UInt8(count & 0xFF)])
    }

    /// How long the answer starting with `prefix` is, once enough of it is known (nil: read more).
    public static func expectedLength(ofAnswer prefix: ArraySlice<UInt8>) -> Int? {
        guard prefix.count >= 3 else { return nil }
        let function = prefix[prefix.startIndex + 1]
        if function & 0x80 != 0 { return 5 }  // slave, function | 0x80, exception code, CRC
        return 5 + Int(prefix[prefix.startIndex + 2])  // slave, function, byte count, data, CRC
    }

    /// The registers of an answer to ``readRequest(slave:table:address:count:)``.
    public static func parseReadAnswer(_ frame: [UInt8], slave: UInt8, table: Table, count: Int) throws(BusError) -> [UInt16] {
        guard frame.count >= 5 else { throw BusError(.frame, "answer of \(frame.count) bytes is too short") }
        let body = frame.dropLast(2)
        let crc = UInt16(frame[frame.count - 2]) | UInt16(frame[frame.count - 1]) << 8
        guard crc16(body) == crc else { throw BusError(.crc, "CRC mismatch in the answer of slave \(slave)") }
        guard frame[0] == slave else { throw BusError(.frame, "answer from slave \(frame[0]), expected \(slave)") }
        if frame[1] == table.function | 0x80 {
            throw BusError(.exception, "slave \(slave) answered exception \(frame[2]) (\(exceptionName(frame[2])))")
        }
        guard frame[1] == table.function else { throw BusError(.frame, "answer to function \(frame[1]), expected \(table.function)") }
        guard Int(frame[2]) == count * 2, frame.count == 5 + count * 2 else {
            throw BusError(.frame, "answer carries \(frame[2]) bytes, expected \(count * 2)")
        }
        return (0..<count).map { i in UInt16(frame[3 + 2 * i]) << 8 | UInt16(frame[4 + 2 * i]) }
    }

    /// The specification's name of exception `code` (1…6, 10, 11), or "unknown"; for messages.
    public static func exceptionName(_ code: UInt8) -> String {
        switch code {
        case 1: "illegal function"
        case 2: "illegal data address"
        case 3: "illegal data value"
        case 4: "slave device failure"
        case 5: "acknowledge"
        case 6: "slave device busy"
        case 10: "gateway path unavailable"
        case 11: "gateway target failed to respond"
        default: "unknown"
        }
    }

    /// The silent interval that separates frames: 3.5 character times, fixed at 1.75 ms above
    /// 19 200 baud (the specification's recommendation).
    public static func interFrameMicros(_ settings: SerialSettings) -> Int {
        settings.baud > 19_200 ? 1750 : (35 * settings.bitsPerCharacter * 1_000_000 / settings.baud + 9) / 10
    }
}

/// One value a Modbus slave exposes, and how it becomes a sample.
public struct ModbusPoint: Sendable, Equatable {
    /// How a point's registers are decoded.
    public enum ValueType: String, Sendable, CaseIterable {
        /// Unsigned and signed 16-bit integers (one register), unsigned and signed 32-bit integers
        /// and an IEEE 754 single-precision float (two registers).
        case uint16, int16, uint32, int32, float32
        /// Registers a value takes: 1 for 16-bit types, 2 for 32-bit ones.
        public var registers: Int { self == .uint16 || self == .int16 ? 1 : 2 }
    }

    /// The order of the two registers of a 32-bit value.
    public enum WordOrder: String, Sendable, CaseIterable {
        /// High word in the lower register (the Modbus convention, "ABCD").
        case big
        /// Low word first ("CDAB"), as many PLCs store 32-bit values.
        case little
    }

    /// The point's name (`point.<name>` in the configuration).
    public var name: String
    /// The device id its samples are stored under.
    public var device: String
    /// The metric name its samples are stored under.
    public var metric: String
    /// The slave address, 1…247.
    public var slave: UInt8
    /// Holding or input registers.
    public var table: ModbusRTU.Table
    /// Address of its first register, 0-based as on the wire.
    public var address: UInt16
    /// How its registers are decoded.
    public var type: ValueType
    /// Register order of a 32-bit value; ignored for 16-bit types.
    public var wordOrder: WordOrder
    /// The factor the raw value is multiplied by.
    public var scale: Double
    /// Added to the scaled value.
    public var offset: Double

    /// A point; by default an unsigned 16-bit value, high word first, neither scaled nor offset.
    public init(name: String, device: String, metric: String, slave: UInt8, table: ModbusRTU.Table, address: UInt16,
                type: ValueType = .uint16, wordOrder: WordOrder = .big, scale: Double = 1, offset: Double = 0) {
        self.name = name
        self.device = device
        self.metric = metric
        self.slave = slave
        self.table = table
        self.address = address
        self.type = type
        self.wordOrder = wordOrder
        self.scale = scale
        self.offset = offset
    }

    /// The engineering value of the point's registers: raw × scale + offset.
    public func value(_ registers: ArraySlice<UInt16>) -> Double {
        let r = registers.startIndex  // the point's first register
        let raw: Double
        switch type {
        case .uint16: raw = Double(registers[r])
        case .int16: raw = Double(Int16(bitPattern: registers[r]))
        case .uint32, .int32, .float32:
            let (high, low) = wordOrder == .big ? (registers[r], registers[r + 1]) : (registers[r + 1], registers[r])
            let bits = UInt32(high) << 16 | UInt32(low)
            raw = type == .uint32 ? Double(bits) : type == .int32 ? Double(Int32(bitPattern: bits)) : Double(Float(bitPattern: bits))
        }
        return raw * scale + offset
    }
}

/// The reads that cover a set of points: per slave and table, consecutive registers merged into
/// one request of at most 125 registers (gaps up to `maxGap` registers are read and ignored).
public struct ModbusReadPlan: Sendable, Equatable {
    /// One request: `count` consecutive registers of `table` from `address` on `slave`.
    public struct Read: Sendable, Equatable {
        /// The slave address.
        public var slave: UInt8
        /// Holding or input registers.
        public var table: ModbusRTU.Table
        /// The first register read.
        public var address: UInt16
        /// Registers read, 1…125 (``ModbusRTU/maxRegistersPerRead``).
        public var count: Int
        /// Indexes into the plan's points, with each one's offset in this read.
        public var points: [(index: Int, offset: Int)]

        /// Equal when both read the same registers for the same points at the same offsets.
        public static func == (a: Read, b: Read) -> Bool {
            a.slave == b.slave && a.table == b.table && a.address == b.address && a.count == b.count
                && a.points.map(\.index) == b.points.map(\.index) && a.points.map(\.offset) == b.points.map(\.offset)
        }
    }

    /// The points, in the order given.
    public let points: [ModbusPoint]
    /// The requests that cover every point, by slave, table (holding first) and address.
    public let reads: [Read]

    /// Plans the reads of `points`: a point joins the previous read of its slave and table when at
    /// most `maxGap` unused registers lie between them and the read stays within 125 registers.
    public init(points: [ModbusPoint], maxGap: Int = 0) {
        self.points = points
        var reads: [Read] = []
        let order = points.indices.sorted { a, b in
            let (p, q) = (points[a], points[b])
            return (p.slave, p.table.function, p.address) < (q.slave, q.table.function, q.address)
        }
        for index in order {
            let point = points[index]
            let end = Int(point.address) + point.type.registers
            if var last = reads.last, last.slave == point.slave, last.table == point.table,
               Int(point.address) <= Int(last.address) + last.count + maxGap,
               max(end, Int(last.address) + last.count) - Int(last.address) <= ModbusRTU.maxRegistersPerRead {
                last.points.append((index, Int(point.address) - Int(last.address)))
                last.count = max(last.count, end - Int(last.address))
                reads[reads.count - 1] = last
            } else {
                reads.append(Read(slave: point.slave, table: point.table, address: point.address, count: point.type.registers,
                                  points: [(index, 0)]))
            }
        }
        self.reads = reads
    }
}
