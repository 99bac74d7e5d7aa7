/// A BME280 register map that answers I2C and SPI transactions like the chip: chip id, soft
/// reset with its NVM copy, calibration blocks, `ctrl_hum` latched by a `ctrl_meas` write, forced
/// and normal modes with the status bits, and burst reads with auto-increment.
///
/// The driver is tested against it over both transports (`make test`), and a hub can use it as a
/// bus (`transport: emulated`) to try a configuration without the hardware.
public final class EmulatedBME280: I2CTransport, SPITransport {
    /// The 256 register bytes, by address; setting them directly bypasses the chip behaviour.
    public var registers = [UInt8](repeating: 0, count: 256)
    /// The 7-bit I2C address it answers to (0x76 with SDO low, 0x77 high).
    public let address: UInt8
    /// Raw ADC values a measurement puts into the data registers (20, 20 and 16 bits).
    public var adcTemperature: Int32
    /// Raw 20-bit pressure ADC value of a measurement.
    public var adcPressure: Int32
    /// Raw 16-bit humidity ADC value of a measurement.
    public var adcHumidity: Int32
    /// Status reads that report a measurement (or the NVM copy) still running.
    private var busyReads = 0
    private var latchedHumidityControl: UInt8 = 0
    /// Every register written, in order (what the driver configured).
    public private(set) var writes: [(register: UInt8, value: UInt8)] = []
    /// Measurements taken: one per forced-mode trigger, per write of normal mode to `ctrl_meas`,
    /// and per read of register 0xF7 in normal mode.
    public private(set) var measurements = 0

    /// A chip in sleep mode with `chipID` in its `id` register (the driver refuses anything but
    /// 0x60), answering I2C at `address`, with `calibration` in its calibration blocks. The default
    /// calibration and ADC values give the datasheet example: 25.08 °C and 1006.53 hPa.
    public init(chipID: UInt8 = 0x60, address: UInt8 = 0x76, calibration: BME280Calibration = .datasheetExample,
                adcTemperature: Int32 = 519_888, adcPressure: Int32 = 415_148, adcHumidity: Int32 = 30_179) {
        self.address = address
        self.adcTemperature = adcTemperature
        self.adcPressure = adcPressure
        self.adcHumidity = adcHumidity
        registers[0xD0] = chipID
        let (block1, block2) = calibration.encoded()
        registers.replaceSubrange(0x88..<0x88 + block1.count, with: block1)
        registers.replaceSubrange(0xE1..<0xE1 + block2.count, with: block2)
        clearData()
    }

    // MARK: transports

    /// Answers an I2C transaction to `address` like the chip: the first byte written sets the
    /// register pointer, a second byte is written to that register and any further bytes are
    /// register/value pairs; then `readCount` bytes are read from the pointer on (auto-increment).
    /// Throws `io` when `address` is not its own.
    public func transfer(address: UInt8, write: [UInt8], readCount: Int) throws(BusError) -> [UInt8] {
        guard address == self.address else {
            throw BusError(.io, "no device answers at I2C address 0x\(String(address, radix: 16))")
        }
        guard let pointer = write.first else { return [] }
        // A write is the register address, then register/value pairs (the first value goes to it).
        if write.count >= 2 {
            store(pointer, write[1])
            var i = 2
            while i + 1 < write.count {
                store(write[i], write[i + 1])
                i += 2
            }
        }
        return burst(from: pointer, count: readCount)
    }

    /// Answers an SPI transfer like the chip: a first byte with bit 7 set reads from that register on
    /// (0xFF is clocked out during the address byte); otherwise `tx` is (register with bit 7 cleared,
    /// value) pairs written. Never throws.
    public func transfer(_ tx: [UInt8]) throws(BusError) -> [UInt8] {
        guard let first = tx.first else { return [] }
        if first & 0x80 != 0 {  // read: the address with bit 7 set, data clocked out after it
            return [0xFF] + burst(from: first, count: tx.count - 1)
        }
        var i = 0
        while i + 1 < tx.count {  // write: pairs of (address with bit 7 cleared, value)
            store(tx[i] | 0x80, tx[i + 1])
            i += 2
        }
        return [UInt8](repeating: 0xFF, count: tx.count)
    }

    // MARK: chip behaviour

    private func burst(from start: UInt8, count: Int) -> [UInt8] {
        (0..<count).map { offset in load(UInt8(truncatingIfNeeded: Int(start) + offset)) }
    }

    private func load(_ register: UInt8) -> UInt8 {
        if register == 0xF3 {
            guard busyReads > 0 else { return 0 }
            busyReads -= 1
            return 0x08 | 0x01
        }
        if register == 0xF7, registers[0xF4] & 0x03 == 0x03 { measure() }  // normal mode: a fresh result
        return registers[Int(register)]
    }

    private func store(_ register: UInt8, _ value: UInt8) {
        writes.append((register, value))
        switch register {
        case 0xE0:
            if value == 0xB6 {
                for r in [0xF2, 0xF4, 0xF5] { registers[r] = 0 }
                latchedHumidityControl = 0
                clearData()
                busyReads = 1  // the NVM copy
            }
        case 0xF2:
            registers[0xF2] = value & 0x07
        case 0xF4:
            registers[0xF4] = value
            latchedHumidityControl = registers[0xF2]
            if value & 0x03 == 0x01 || value & 0x03 == 0x02 {  // forced: one measurement, then sleep
                measure()
                busyReads = 1
                registers[0xF4] = value & 0xFC
            } else if value & 0x03 == 0x03 {
                measure()
            }
        case 0xF5:
            registers[0xF5] = value
        default:
            break  // read-only
        }
    }

    private func measure() {
        measurements += 1
        let ctrl = registers[0xF4]
        let t = ctrl >> 5 == 0 ? 0x80000 : adcTemperature
        let p = (ctrl >> 2) & 0x07 == 0 ? 0x80000 : adcPressure
        let h = latchedHumidityControl == 0 ? 0x8000 : adcHumidity
        registers[0xF7] = UInt8(truncatingIfNeeded: p >> 12)
        registers[0xF8] = UInt8(truncatingIfNeeded: p >> 4)
        registers[0xF9] = UInt8(truncatingIfNeeded: p << 4)
        registers[0xFA] = UInt8(truncatingIfNeeded: t >> 12)
        registers[0xFB] = UInt8(truncatingIfNeeded: t >> 4)
        registers[0xFC] = UInt8(truncatingIfNeeded: t << 4)
        registers[0xFD] = UInt8(truncatingIfNeeded: h >> 8)
        registers[0xFE] = UInt8(truncatingIfNeeded: h)
    }

    private func clearData() {
        // The reset values of the data registers (datasheet Table 18).
        registers.replaceSubrange(0xF7...0xFE, with: [0x80, 0x00, 0x00, 0x80, 0x00, 0x00, 0x80, 0x00])
    }
}

extension BME280Calibration {
    /// The trimming values of the datasheet's worked example for temperature and pressure (the
    /// BMP280 datasheet's §3.12 example, whose formulas the BME280 shares), with humidity values
    /// typical of a real chip.
    public static let datasheetExample = BME280Calibration(
        t1: 27504, t2: 26435, t3: -1000,
        p1: 36477, p2: -10685, p3: 3024, p4: 2855, p5: 140, p6: -7, p7: 15500, p8: -14600, p9: 6000,
        h1: 75, h2: 370, h3: 0, h4: 309, h5: 0, h6: 30)

    /// The bytes of the two calibration blocks (0x88…0xA1 and 0xE1…0xE7) that hold these values.
    public func encoded() -> (block1: [UInt8], block2: [UInt8]) {
        var a = [UInt8](repeating: 0, count: 26)
        func put(_ value: UInt16, at i: Int) {
            a[i] = UInt8(value & 0xFF)
            a[i + 1] = UInt8(value >> 8)
        }
        put(t1, at: 0); put(UInt16(bitPattern: t2), at: 2); put(UInt16(bitPattern: t3), at: 4)
        put(p1, at: 6)
        for (i, p) in [p2, p3, p4, p5, p6, p7, p8, p9].enumerated() { put(UInt16(bitPattern: p), at: 8 + 2 * i) }
        a[25] = h1
        let h4bits = UInt16(bitPattern: h4), h5bits = UInt16(bitPattern: h5)
        let b: [UInt8] = [
            UInt8(UInt16(bitPattern: h2) & 0xFF), UInt8(UInt16(bitPattern: h2) >> 8), h3,
            UInt8(truncatingIfNeeded: h4bits >> 4), UInt8(h4bits & 0x0F) | UInt8(truncatingIfNeeded: (h5bits & 0x0F) << 4),
            UInt8(truncatingIfNeeded: h5bits >> 4), UInt8(bitPattern: h6),
        ]
        return (a, b)
    }
}
