import Buses
import Testing

@Suite("BME280 driver and compensation")
struct BME280Tests {
    @Test("integer compensation matches the datasheet's worked example")
    func datasheetExample() {
        // Bosch's worked example (BMP280 datasheet §3.12, the same formulas as the BME280's):
        // adc_T = 519888, adc_P = 415148 with the trimming values below give t_fine = 128422,
        // T = 25.08 °C and P = 100653.27 Pa (the floating-point result; integer: within 0.1 Pa).
        let compensation = BME280Compensation(calibration: .datasheetExample, adcTemperature: 519_888)
        #expect(compensation.fineTemperature == 128_422)
        #expect(compensation.temperatureCentiCelsius == 2508)
        let pascal = Double(compensation.pressure(415_148)) / 256
        #expect(abs(pascal - 100_653.27) < 0.1)
        // Humidity has no worked example: the integer formula must agree with the datasheet's
        // double-precision formula (§8.1) within 0.01 %RH (its truncations cost up to about 0.006).
        for adcH: Int32 in [20_000, 25_000, 30_179, 35_000, 40_000] {
            let integer = Double(compensation.humidity(adcH)) / 1024
            let double = Self.humidityDouble(adcH, fine: Double(compensation.fineTemperature), c: .datasheetExample)
            #expect(abs(integer - double) < 0.01, "adc_H \(adcH): \(integer) vs \(double)")
        }
        #expect(compensation.humidity(0) == 0)  // clamped at 0 %RH
        #expect(Double(compensation.humidity(65_535)) / 1024 == 100)  // and at 100 %RH
    }

    /// The datasheet's `bme280_compensate_H_double`.
    static func humidityDouble(_ adcH: Int32, fine: Double, c: BME280Calibration) -> Double {
        var h = fine - 76_800
        h = (Double(adcH) - (Double(c.h4) * 64 + Double(c.h5) / 16_384 * h))
            * (Double(c.h2) / 65_536 * (1 + Double(c.h6) / 67_108_864 * h * (1 + Double(c.h3) / 67_108_864 * h)))
        h *= 1 - Double(c.h1) * h / 524_288
        return min(100, max(0, h))
    }

    @Test("calibration bytes round-trip, H4 and H5 sharing register 0xE5 included")
    func calibrationLayout() {
        let negative = BME280Calibration(t1: 1, t2: -2, t3: 3, p1: 4, p2: -5, p3: 6, p4: 7, p5: 8, p6: -9, p7: 10, p8: 11, p9: -12,
                                         h1: 13, h2: -14, h3: 15, h4: -300, h5: -7, h6: -16)
        for c in [BME280Calibration.datasheetExample, negative] {
            let (a, b) = c.encoded()
            #expect(BME280Calibration(block1: a, block2: b) == c)
        }
    }

    func expectDatasheetReading(_ reading: BME280Reading) {
        #expect(reading.temperatureCelsius == 25.08)
        #expect(abs(reading.pressureHectopascal - 1006.5327) < 0.001)
        #expect(reading.humidityPercent > 0 && reading.humidityPercent <= 100)
    }

    @Test("configured over I2C, the driver reads the emulated chip", arguments: [BME280Mode.forced, .normal])
    func overI2C(mode: BME280Mode) throws {
        let chip = EmulatedBME280(address: 0x77)
        let settings = BME280Settings(mode: mode, temperatureOversampling: 2, pressureOversampling: 16, humidityOversampling: 1,
                                      filter: 4, standbyMillis: 62.5)
        var sensor = BME280(bus: I2CRegisterBus(transport: chip, address: 0x77), settings: settings, sleep: { _ in })
        try sensor.configure()
        #expect(chip.registers[0xF2] == 0b001)
        #expect(chip.registers[0xF5] == 0b001_010_00)  // standby 62.5 ms, filter 4
        expectDatasheetReading(try sensor.read())
        expectDatasheetReading(try sensor.read())
        #expect(chip.measurements >= 2)
        if mode == .forced { #expect(chip.registers[0xF4] & 0x03 == 0) }  // back to sleep after each
        else { #expect(chip.registers[0xF4] == 0b010_101_11) }
    }

    @Test("configured over SPI (read bit 7, 7-bit write addresses), the driver reads the emulated chip")
    func overSPI() throws {
        let chip = EmulatedBME280()
        var sensor = BME280(bus: SPIRegisterBus(transport: chip), settings: BME280Settings(humidityOversampling: 4), sleep: { _ in })
        try sensor.configure()
        #expect(chip.writes.contains { $0.register == 0xE0 && $0.value == 0xB6 })  // the reset reached 0xE0 via 0x60
        #expect(chip.registers[0xF2] == 0b011)
        expectDatasheetReading(try sensor.read())
    }

    @Test("a wrong chip id is a clear configuration error")
    func wrongChip() {
        let bmp280 = EmulatedBME280(chipID: 0x58)
        var sensor = BME280(bus: I2CRegisterBus(transport: bmp280, address: 0x76), sleep: { _ in })
        do {
            try sensor.configure()
            Issue.record("a BMP280 was accepted")
        } catch {
            #expect(error.kind == .configuration)
            #expect(error.message.contains("0x58") && error.message.contains("BMP280"))
        }
        var absent = BME280(bus: I2CRegisterBus(transport: EmulatedBME280(address: 0x77), address: 0x76), sleep: { _ in })
        #expect(throws: BusError.self) { try absent.configure() }
    }

    @Test("settings the chip does not have are refused before any bus traffic")
    func badSettings() {
        #expect(BME280Settings(temperatureOversampling: 3).problem != nil)
        #expect(BME280Settings(filter: 5).problem != nil)
        #expect(BME280Settings(standbyMillis: 7).problem != nil)
        #expect(BME280Settings().problem == nil)
        #expect(BME280Settings(temperatureOversampling: 16, pressureOversampling: 16, humidityOversampling: 16).maxMeasurementMillis < 113)
    }
}
