/// Bosch BME280 temperature, humidity and pressure sensor, over any ``RegisterBus``.
///
/// `configure()` checks the chip id (0x60), resets the chip, reads its calibration and writes the
/// oversampling, filter and mode settings; `read()` takes a measurement (in forced mode: triggers
/// one and waits for it) and compensates it with the datasheet's integer formulas (§4.2.3).
///
/// ```swift
/// var sensor = BME280(bus: I2CRegisterBus(transport: try LinuxI2C(path: "/dev/i2c-1"), address: 0x76))
/// try sensor.configure()
/// let reading = try sensor.read()   // °C, %RH, hPa
/// ```
public struct BME280<Bus: RegisterBus> {

    /// The value of the `id` register (0xD0) of a BME280: 0x60.
    public static var expectedChipID: UInt8 { 0x60 }
    /// The value that, written to the `reset` register (0xE0), resets the chip: 0xB6.
    public static var resetCommand: UInt8 { 0xB6 }

    /// The bus the chip is reached over.
    public var bus: Bus
    /// Mode, oversampling, filter and standby, applied by ``configure()``.
    public let settings: BME280Settings
    /// The chip's trimming parameters, read by ``configure()``; nil before it.
    public private(set) var calibration: BME280Calibration?
    /// Sleeps between polls of the status register; injected so tests do not wait.
    private let sleep: (Double) -> Void

    /// A driver for the chip on `bus`; nothing is sent before ``configure()``. `sleep` blocks for a
    /// number of milliseconds (tests pass one that returns at once).
    public init(bus: Bus, settings: BME280Settings = BME280Settings(), sleep: @escaping (Double) -> Void = BME280Timing.sleep(millis:)) {
        self.bus = bus
        self.settings = settings
        self.sleep = sleep
    }

    /// Checks the chip, resets it, reads calibration and applies ``settings``. A wrong chip id is
    /// a `configuration` error that names what was found (a BMP280 answers 0x56–0x58).
    public mutating func configure() throws(BusError) {
        if let problem = settings.problem { throw BusError(.configuration, "BME280 settings: \(problem)") }
        let id = try bus.read(register: BME280Register.chipID, count: 1)[0]
        guard id == Self.expectedChipID else {
            let hint = (0x56...0x58).contains(id) ? " (a BMP280, which has no humidity sensor)" : ""
            throw BusError(.configuration, "chip id 0x\(String(id, radix: 16)) at register 0xd0 is not a BME280 (0x60)\(hint)")
        }
        try bus.write(register: BME280Register.reset, value: Self.resetCommand)
        // After a reset the chip copies its NVM; im_update (status bit 0) is set while it does.
        try waitWhileStatus(0x01, step: 2, what: "its reset")
        let block1 = try bus.read(register: BME280Register.calibration1, count: 26)
        let block2 = try bus.read(register: BME280Register.calibration2, count: 7)
        calibration = BME280Calibration(block1: block1, block2: block2)
        let s = settings
        // ctrl_hum takes effect only after a write to ctrl_meas, so it goes first; config is
        // written in sleep mode (writes to it in normal mode may be ignored).
        try bus.write(register: BME280Register.controlHumidity, value: BME280Settings.oversamplingCodes[s.humidityOversampling]!)
        try bus.write(register: BME280Register.config, value: BME280Settings.standbyCodes[s.standbyMillis]! << 5 | BME280Settings.filterCodes[s.filter]! << 2)
        try bus.write(register: BME280Register.controlMeasurement, value: controlMeasurement(mode: s.mode == .normal ? .normal : nil))
    }

    /// Polls the status register every `step` ms while a bit of `mask` is set (0x01: NVM copy
    /// after reset, 0x08: measuring); a timeout after 100 ms.
    private mutating func waitWhileStatus(_ mask: UInt8, step: Double, what: String) throws(BusError) {
        var waited = 0.0
        while try bus.read(register: BME280Register.status, count: 1)[0] & mask != 0 {
            guard waited < 100 else { throw BusError(.timeout, "BME280 did not finish \(what) within 100 ms") }
            sleep(step)
            waited += step
        }
    }

    private func controlMeasurement(mode: BME280Mode?) -> UInt8 {
        BME280Settings.oversamplingCodes[settings.temperatureOversampling]! << 5
            | BME280Settings.oversamplingCodes[settings.pressureOversampling]! << 2 | (mode?.bits ?? 0)
    }

    /// Takes one measurement and compensates it.
    public mutating func read() throws(BusError) -> BME280Reading {
        guard let calibration else { throw BusError(.configuration, "BME280 read before configure()") }
        if settings.mode == .forced {
            try bus.write(register: BME280Register.controlMeasurement, value: controlMeasurement(mode: .forced))
            sleep(settings.maxMeasurementMillis)
            try waitWhileStatus(0x08, step: 1, what: "the measurement")
        }
        let d = try bus.read(register: BME280Register.data, count: 8)
        let adcP = Int32(d[0]) << 12 | Int32(d[1]) << 4 | Int32(d[2] >> 4)
        let adcT = Int32(d[3]) << 12 | Int32(d[4]) << 4 | Int32(d[5] >> 4)
        let adcH = Int32(d[6]) << 8 | Int32(d[7])
        // 0x80000 / 0x8000 is what a skipped (or never run) measurement leaves in the registers.
        guard adcT != 0x80000 else { throw BusError(.frame, "BME280 temperature not measured (0x80000): is the chip in sleep mode?") }
        let compensation = BME280Compensation(calibration: calibration, adcTemperature: adcT)
        return BME280Reading(temperatureCelsius: Double(compensation.temperatureCentiCelsius) / 100,
                       humidityPercent: Double(compensation.humidity(adcH)) / 1024,
                       pressureHectopascal: Double(compensation.pressure(adcP)) / 256 / 100)
    }
}

/// The BME280 registers the driver uses (datasheet §5.3).
public enum BME280Register {
    /// First calibration block, `calib00`…`calib25`.
    public static let calibration1: UInt8 = 0x88  // 26 bytes: T1…T3, P1…P9, (0xA0), H1 at 0xA1
    /// `id`: 0x60 on a BME280.
    public static let chipID: UInt8 = 0xD0
    /// `reset`: writing 0xB6 resets the chip.
    public static let reset: UInt8 = 0xE0
    /// Second calibration block, from `calib26`.
    public static let calibration2: UInt8 = 0xE1  // 7 bytes: H2…H6
    /// `ctrl_hum`: humidity oversampling (bits 2:0), applied at the next write to `ctrl_meas`.
    public static let controlHumidity: UInt8 = 0xF2
    /// `status`: bit 3 `measuring`, bit 0 `im_update` (NVM copy running).
    public static let status: UInt8 = 0xF3
    /// `ctrl_meas`: temperature oversampling (bits 7:5), pressure oversampling (4:2), mode (1:0).
    public static let controlMeasurement: UInt8 = 0xF4
    /// `config`: standby time (bits 7:5), IIR filter (4:2), 3-wire SPI (bit 0).
    public static let config: UInt8 = 0xF5
    /// First data register, `press_msb` (pressure, temperature and humidity ADC values to 0xFE).
    public static let data: UInt8 = 0xF7  // 8 bytes: press[3], temp[3], hum[2]
}

/// Operating mode of a BME280.
public enum BME280Mode: String, Sendable, CaseIterable {
    /// One measurement per read, then the chip sleeps (lowest power; the datasheet's choice
    /// for weather monitoring).
    case forced
    /// Continuous measurements at the standby interval; a read takes the latest.
    case normal

    var bits: UInt8 { self == .forced ? 0b01 : 0b11 }
}

/// Oversampling 1, 2, 4, 8 or 16 (0 skips the measurement).
public struct BME280Settings: Sendable, Equatable {
    /// Forced (a measurement per read) or normal (continuous measurements).
    public var mode: BME280Mode
    /// Temperature oversampling (`osrs_t`); 0 skips it, and then ``BME280/read()`` throws `frame`.
    public var temperatureOversampling: Int
    /// Pressure oversampling (`osrs_p`); 0 skips it (the reading then has no valid pressure).
    public var pressureOversampling: Int
    /// Humidity oversampling (`osrs_h`); 0 skips it (the reading then has no valid humidity).
    public var humidityOversampling: Int
    /// IIR filter coefficient: 0 (off), 2, 4, 8, 16.
    public var filter: Int
    /// Normal mode standby between measurements, in ms: 0.5, 62.5, 125, 250, 500, 1000, 10, 20.
    public var standbyMillis: Double

    /// Settings; by default forced mode, oversampling 1, filter off and 1000 ms standby. Not
    /// checked here: see ``problem``.
    public init(mode: BME280Mode = .forced, temperatureOversampling: Int = 1, pressureOversampling: Int = 1,
                humidityOversampling: Int = 1, filter: Int = 0, standbyMillis: Double = 1000) {
        self.mode = mode
        self.temperatureOversampling = temperatureOversampling
        self.pressureOversampling = pressureOversampling
        self.humidityOversampling = humidityOversampling
        self.filter = filter
        self.standbyMillis = standbyMillis
    }

    static let oversamplingCodes: [Int: UInt8] = [0: 0, 1: 1, 2: 2, 4: 3, 8: 4, 16: 5]
    static let filterCodes: [Int: UInt8] = [0: 0, 2: 1, 4: 2, 8: 3, 16: 4]
    static let standbyCodes: [Double: UInt8] = [0.5: 0, 62.5: 1, 125: 2, 250: 3, 500: 4, 1000: 5, 10: 6, 20: 7]

    /// Nil when every setting is one the chip has, else what is wrong.
    public var problem: String? {
        for (name, value) in [("temperature", temperatureOversampling), ("pressure", pressureOversampling), ("humidity", humidityOversampling)]
        where Self.oversamplingCodes[value] == nil {
            return "\(name) oversampling \(value) is not one of 0, 1, 2, 4, 8, 16"
        }
        if Self.filterCodes[filter] == nil { return "filter \(filter) is not one of 0, 2, 4, 8, 16" }
        if Self.standbyCodes[standbyMillis] == nil { return "standby \(standbyMillis) ms is not one of 0.5, 10, 20, 62.5, 125, 250, 500, 1000" }
        return nil
    }

    /// Maximum measurement time in ms (datasheet §9.1), for the forced-mode wait.
    public var maxMeasurementMillis: Double {
        1.25 + 2.3 * Double(temperatureOversampling)
            + (pressureOversampling > 0 ? 2.3 * Double(pressureOversampling) + 0.575 : 0)
            + (humidityOversampling > 0 ? 2.3 * Double(humidityOversampling) + 0.575 : 0)
    }
}

/// The trimming parameters burnt into each chip.
public struct BME280Calibration: Sendable, Equatable {
    /// Temperature trimming `dig_T1`…`dig_T3`.
    public var t1: UInt16, t2: Int16, t3: Int16
    /// Pressure trimming `dig_P1`…`dig_P9`.
    public var p1: UInt16, p2: Int16, p3: Int16, p4: Int16, p5: Int16, p6: Int16, p7: Int16, p8: Int16, p9: Int16
    /// Humidity trimming `dig_H1`…`dig_H6` (H4 and H5 are 12-bit signed values).
    public var h1: UInt8, h2: Int16, h3: UInt8, h4: Int16, h5: Int16, h6: Int8

    /// Calibration from its values (tests and the emulated chip use it).
    public init(t1: UInt16, t2: Int16, t3: Int16, p1: UInt16, p2: Int16, p3: Int16, p4: Int16, p5: Int16, p6: Int16,
                p7: Int16, p8: Int16, p9: Int16, h1: UInt8, h2: Int16, h3: UInt8, h4: Int16, h5: Int16, h6: Int8) {
        (self.t1, self.t2, self.t3) = (t1, t2, t3)
        (self.p1, self.p2, self.p3, self.p4, self.p5, self.p6, self.p7, self.p8, self.p9) = (p1, p2, p3, p4, p5, p6, p7, p8, p9)
        (self.h1, self.h2, self.h3, self.h4, self.h5, self.h6) = (h1, h2, h3, h4, h5, h6)
    }

    /// Parses the 26 bytes at 0x88 and the 7 bytes at 0xE1 (datasheet Table 16).
    public init(block1 a: [UInt8], block2 b: [UInt8]) {
        func u16(_ i: Int) -> UInt16 { UInt16(a[i]) | UInt16(a[i + 1]) << 8 }
        func s16(_ i: Int) -> Int16 { Int16(bitPattern: u16(i)) }
        self.init(
            t1: u16(0), t2: s16(2), t3: s16(4),
            p1: u16(6), p2: s16(8), p3: s16(10), p4: s16(12), p5: s16(14), p6: s16(16), p7: s16(18), p8: s16(20), p9: s16(22),
            h1: a[25], h2: Int16(bitPattern: UInt16(b[0]) | UInt16(b[1]) << 8), h3: b[2],
            // H4 = E4[7:0] << 4 | E5[3:0], H5 = E6[7:0] << 4 | E5[7:4]; both 12-bit signed.
            h4: Int16(Int8(bitPattern: b[3])) << 4 | Int16(b[4] & 0x0F),
            h5: Int16(Int8(bitPattern: b[5])) << 4 | Int16(b[4] >> 4),
            h6: Int8(bitPattern: b[6]))
    }
}

/// One compensated measurement.
public struct BME280Reading: Sendable, Equatable {
    /// Temperature in °C, in steps of 0.01 °C.
    public var temperatureCelsius: Double
    /// Relative humidity in %RH, 0…100.
    public var humidityPercent: Double
    /// Pressure in hPa.
    public var pressureHectopascal: Double
}


/// The driver's default wait.
public enum BME280Timing {
    /// Blocks the calling thread for `millis` milliseconds (fractions too), also across signals.
    public static func sleep(millis: Double) {
        var request = timespec(tv_sec: Int(millis / 1000), tv_nsec: Int((millis.truncatingRemainder(dividingBy: 1000)) * 1_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}

/// The datasheet's integer compensation (BME280 §4.2.3), line by line: 32-bit for temperature and
/// humidity, 64-bit for pressure, with the C code's wrapping arithmetic. Every shift is
/// parenthesised: in Swift `>>` and `<<` bind tighter than `*` and `+`, unlike in C.
public struct BME280Compensation: Sendable {
    /// The chip's trimming parameters.
    public let calibration: BME280Calibration
    /// The fine temperature the pressure and humidity formulas take.
    public let fineTemperature: Int32
    /// Temperature in 0.01 °C.
    public let temperatureCentiCelsius: Int32

    /// Compensates the raw 20-bit temperature `adcT` (`BME280_compensate_T_int32`) and keeps
    /// `t_fine` for the pressure and humidity formulas.
    public init(calibration c: BME280Calibration, adcTemperature adcT: Int32) {
        calibration = c
        let t1 = Int32(c.t1), t2 = Int32(c.t2), t3 = Int32(c.t3)
        let var1 = (((adcT >> 3) &- (t1 << 1)) &* t2) >> 11
        let x = (adcT >> 4) &- t1
        let var2 = (((x &* x) >> 12) &* t3) >> 14
        fineTemperature = var1 &+ var2
        temperatureCentiCelsius = (fineTemperature &* 5 &+ 128) >> 8
    }

    /// Pressure in Pa as unsigned Q24.8 (value / 256 = Pa).
    public func pressure(_ adcP: Int32) -> UInt32 {
        let c = calibration
        var var1 = Int64(fineTemperature) - 128_000
        var var2 = var1 &* var1 &* Int64(c.p6)
        var2 = var2 &+ ((var1 &* Int64(c.p5)) << 17)
        var2 = var2 &+ (Int64(c.p4) << 35)
        var1 = ((var1 &* var1 &* Int64(c.p3)) >> 8) &+ ((var1 &* Int64(c.p2)) << 12)
        var1 = (((Int64(1) << 47) &+ var1) &* Int64(c.p1)) >> 33  // Swift's >> binds tighter than C's
        if var1 == 0 { return 0 }  // avoids a division by zero
        var p = 1_048_576 - Int64(adcP)
        p = (((p << 31) &- var2) &* 3125) / var1
        var1 = (Int64(c.p9) &* (p >> 13) &* (p >> 13)) >> 25
        var2 = (Int64(c.p8) &* p) >> 19
        p = ((p &+ var1 &+ var2) >> 8) &+ (Int64(c.p7) << 4)
        return UInt32(truncatingIfNeeded: p)
    }

    /// Relative humidity in %RH as unsigned Q22.10 (value / 1024 = %RH).
    public func humidity(_ adcH: Int32) -> UInt32 {
        let c = calibration
        var v = fineTemperature &- 76_800
        let h2 = Int32(c.h2), h3 = Int32(c.h3), h4 = Int32(c.h4), h5 = Int32(c.h5), h6 = Int32(c.h6)
        // The datasheet's one expression, in its two factors.
        let left: Int32 = ((adcH << 14) &- (h4 << 20) &- (h5 &* v) &+ 16_384) >> 15
        let inner: Int32 = (((v &* h6) >> 10) &* (((v &* h3) >> 11) &+ 32_768)) >> 10
        let right: Int32 = ((inner &+ 2_097_152) &* h2 &+ 8192) >> 14
        v = left &* right
        v = v &- (((((v >> 15) &* (v >> 15)) >> 7) &* Int32(c.h1)) >> 4)
        v = min(max(v, 0), 419_430_400)
        return UInt32(v >> 12)
    }
}

#if canImport(Glibc)
import Glibc
#endif
