import Buses
import TelemetryCore

/// The bus decoders that take bytes from devices, run on one input with the invariants that must
/// hold whatever the bytes; shared by `FuzzCorpusTests` and `make fuzz` (see the TelemetryCore
/// probes). A violated invariant traps.
enum BusesProbes {
    static let targets: [String: @Sendable ([UInt8]) -> Void] = ["uart_line": uartLine, "modbus_frame": modbusFrame]

    /// Bytes from a UART: framed into lines (at most 256 bytes kept of each), each line parsed.
    static func uartLine(_ bytes: [UInt8]) {
        var framer = LineFramer(maxLineBytes: 256)
        var lines: [ArraySlice<UInt8>] = []
        framer.feed(bytes) { output in
            switch output {
            case .line(let line): lines.append(line)
            case .tooLong(let head): precondition(head.count == 256, "a cut line keeps exactly maxLineBytes")
            }
        }
        precondition(framer.partial.count <= 256, "an unfinished line over the limit")
        for line in lines {
            precondition(line.count <= 256, "a line over the limit")
            for precision in [TimestampPrecision.milliseconds, .seconds] {
                if let reading = try? LineProtocol.parse(line, precision: precision, maxFields: 32) {
                    precondition(reading.fields.count <= 32, "more fields than max_fields")
                    precondition(!reading.device.isEmpty, "an empty device id")
                }
            }
        }
    }

    /// A Modbus RTU answer: its expected length, then the read it would answer (slave, function
    /// and count taken from the bytes themselves, so the CRC check is the one that decides).
    static func modbusFrame(_ bytes: [UInt8]) {
        if let length = ModbusRTU.expectedLength(ofAnswer: bytes[...]) {
            precondition(length >= 5, "an answer shorter than its envelope")
        }
        guard bytes.count >= 3 else { return }
        let count = Int(bytes[2]) / 2
        for table in ModbusRTU.Table.allCases {
            if let registers = try? ModbusRTU.parseReadAnswer(bytes, slave: bytes[0], table: table, count: count) {
                precondition(registers.count == count, "a register count other than asked")
                precondition(ModbusRTU.framed(Array(bytes.dropLast(2))) == bytes, "an accepted frame whose CRC does not recompute")
            }
        }
    }
}
