import Buses
import Testing

@Suite("Modbus RTU framing")
struct ModbusRTUTests {
    @Test("CRC-16/MODBUS of the specification's examples")
    func crc() {
        // Read 10 holding registers of slave 1 from 0: 01 03 00 00 00 0A, CRC C5 CD on the wire.
        #expect(ModbusRTU.readRequest(slave: 1, table: .holding, address: 0, count: 10) == [0x01, 0x03, 0x00, 0x00, 0x00, 0x0A, 0xC5, 0xCD])
        // The check value of CRC-16/MODBUS over "123456789" is 0x4B37.
        #expect(ModbusRTU.crc16(Array("123456789".utf8)) == 0x4B37)
    }

    @Test("answers: registers, exceptions, CRC and framing errors")
    func answers() throws {
        let answer = ModbusRTU.framed([0x11, 0x04, 0x04, 0x00, 0xE7, 0xFF, 0x38])
        #expect(ModbusRTU.expectedLength(ofAnswer: answer.prefix(3)) == 9)
        #expect(try ModbusRTU.parseReadAnswer(answer, slave: 0x11, table: .input, count: 2) == [0x00E7, 0xFF38])

        let exception = ModbusRTU.framed([0x11, 0x83, 0x02])
        #expect(ModbusRTU.expectedLength(ofAnswer: exception[...]) == 5)
        #expect(kind { try ModbusRTU.parseReadAnswer(exception, slave: 0x11, table: .holding, count: 1) } == .exception)

        var corrupted = answer
        corrupted[4] ^= 0x01
        #expect(kind { try ModbusRTU.parseReadAnswer(corrupted, slave: 0x11, table: .input, count: 2) } == .crc)
        #expect(kind { try ModbusRTU.parseReadAnswer(answer, slave: 0x12, table: .input, count: 2) } == .frame)
        #expect(kind { try ModbusRTU.parseReadAnswer(answer, slave: 0x11, table: .holding, count: 2) } == .frame)
        #expect(kind { try ModbusRTU.parseReadAnswer(answer, slave: 0x11, table: .input, count: 3) } == .frame)
    }

    func kind(_ body: () throws -> [UInt16]) -> BusError.Kind? {
        do {
            _ = try body()
            return nil
        } catch {
            return (error as? BusError)?.kind
        }
    }

    @Test("scaling: signed, unsigned, 32-bit in both word orders, float")
    func scaling() {
        func point(_ type: ModbusPoint.ValueType, _ order: ModbusPoint.WordOrder = .big, scale: Double = 1, offset: Double = 0) -> ModbusPoint {
            ModbusPoint(name: "p", device: "d", metric: "m", slave: 1, table: .holding, address: 0, type: type, wordOrder: order, scale: scale, offset: offset)
        }
        #expect(point(.int16, scale: 0.1).value([0xFF38]) == -20.0)
        #expect(point(.uint16, scale: 0.1, offset: -40).value([650]) == 25.0)
        #expect(point(.uint32).value([0x0001, 0x0002]) == 65538)
        #expect(point(.uint32, .little).value([0x0002, 0x0001]) == 65538)
        #expect(point(.int32).value([0xFFFF, 0xFFFE]) == -2)
        let bits = Float(1013.25).bitPattern
        #expect(point(.float32).value([UInt16(bits >> 16), UInt16(bits & 0xFFFF)]) == 1013.25)
        #expect(point(.float32, .little).value([UInt16(bits & 0xFFFF), UInt16(bits >> 16)]) == 1013.25)
    }

    @Test("the read plan merges consecutive registers per slave and table, within 125")
    func plan() {
        func p(_ slave: UInt8, _ table: ModbusRTU.Table, _ address: UInt16, _ type: ModbusPoint.ValueType = .uint16) -> ModbusPoint {
            ModbusPoint(name: "\(slave)-\(address)", device: "d", metric: "m", slave: slave, table: table, address: address, type: type)
        }
        let plan = ModbusReadPlan(points: [p(1, .holding, 2), p(1, .holding, 0, .int32), p(1, .input, 0), p(2, .holding, 0), p(1, .holding, 10)])
        #expect(plan.reads.map { "\($0.slave) \($0.table) \($0.address)+\($0.count)" } == ["1 holding 0+3", "1 holding 10+1", "1 input 0+1", "2 holding 0+1"])
        #expect(plan.reads[0].points.map(\.index) == [1, 0])
        #expect(plan.reads[0].points.map(\.offset) == [0, 2])
        #expect(ModbusReadPlan(points: [p(1, .holding, 0), p(1, .holding, 4)], maxGap: 3).reads.count == 1)
        #expect(ModbusReadPlan(points: [p(1, .holding, 0), p(1, .holding, 130)], maxGap: 200).reads.count == 2)
    }

    @Test("the 3.5-character gap: from the baud rate, fixed above 19 200")
    func interFrame() {
        #expect(ModbusRTU.interFrameMicros(SerialSettings(baud: 9600, parity: .even)) == 4011)  // 3.5 × 11 bits at 9600
        #expect(ModbusRTU.interFrameMicros(SerialSettings(baud: 115_200)) == 1750)
    }
}
