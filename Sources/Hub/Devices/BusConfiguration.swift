import Buses
import Configuration
import TelemetryConfiguration

/// One configured bus: `buses.names` lists them, and each one's keys are under `buses.<name>`
/// (Docs/buses.md has every key and an example per kind).
package struct BusConfiguration: Sendable, Equatable {
    package enum Kind: Sendable, Equatable {
        case uartLines(UARTLineDriver.Configuration)
        case modbusRTU(ModbusDriver.Configuration)
        case bme280(BME280Driver.Configuration)
    }

    package static let kinds = ["uart_lines", "modbus_rtu", "bme280"]

    package var name: String
    package var kind: Kind
    /// Ring capacity of this bus, in samples (`ingest.ring_capacity` unless set).
    package var ringCapacity: Int?

    /// Every bus in `buses.names`, in order.
    package static func all(reader config: ConfigReader) throws(ConfigurationError) -> [BusConfiguration] {
        let names = try config.strictStringArray("buses.names", default: [])
        var seen = Set<String>()
        for name in names {
            guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }), name != "names", name != "simulated" else {
                throw ConfigurationError(key: "buses.names", "\"\(name)\" is not a usable bus name (letters, digits, _ and -; not names or simulated)")
            }
            guard seen.insert(name).inserted else { throw ConfigurationError(key: "buses.names", "\"\(name)\" appears twice") }
        }
        return try names.map { name throws(ConfigurationError) in
            try config.section("buses.\(name)") { reader throws(ConfigurationError) in try BusConfiguration(reader: reader, name: name) }
        }
    }

    /// Reads bus `name` from a reader scoped to `buses.<name>`.
    package init(reader config: ConfigReader, name: String) throws(ConfigurationError) {
        self.name = name
        guard config.string(forKey: ConfigKey("kind")) != nil else {
            throw ConfigurationError(key: "kind", "is required: one of \(Self.kinds.joined(separator: ", "))")
        }
        let kind = try config.strictString("kind", default: "", choices: Self.kinds)
        if config.string(forKey: ConfigKey("ring_capacity")) != nil || config.int(forKey: ConfigKey("ring_capacity")) != nil {
            ringCapacity = try config.strictInt("ring_capacity", default: 65_536, in: 16...(1 << 24))
        }
        switch kind {
        case "uart_lines":
            let precision = try config.strictString("timestamp_precision", default: "ms", choices: TimestampPrecision.allCases.map(\.rawValue))
            self.kind = .uartLines(UARTLineDriver.Configuration(
                device: try config.requiredString("device"),
                serial: try Self.serial(config, defaultParity: .none),
                readTimeoutMillis: try config.strictInt("read_timeout_ms", default: 500, in: 10...10_000),
                precision: TimestampPrecision(rawValue: precision)!,
                maxLineBytes: try config.strictInt("max_line_bytes", default: 4096, in: 64...(1 << 20))))
        case "modbus_rtu":
            let pointNames = try config.strictStringArray("points", default: [])
            guard !pointNames.isEmpty else { throw ConfigurationError(key: "points", "a Modbus bus needs at least one point") }
            let points = try pointNames.map { point throws(ConfigurationError) in try config.section("point.\(point)") { reader throws(ConfigurationError) in try Self.point(reader, name: point, bus: name) } }
            self.kind = .modbusRTU(ModbusDriver.Configuration(
                device: try config.requiredString("device"),
                // The Modbus serial line specification's default is even parity.
                serial: try Self.serial(config, defaultParity: .even, defaultBaud: 19_200),
                pollIntervalMillis: try config.strictInt("poll_interval_ms", default: 1000, in: 10...3_600_000),
                timeoutMillis: try config.strictInt("timeout_ms", default: 200, in: 5...60_000),
                retries: try config.strictInt("retries", default: 2, in: 0...10),
                points: points,
                maxGap: try config.strictInt("max_gap", default: 0, in: 0...ModbusRTU.maxRegistersPerRead)))
        case "bme280":
            let transportName = try config.strictString("transport", default: "i2c", choices: ["i2c", "spi", "emulated"])
            let address = UInt8(try config.strictInt("address", default: 0x76, in: 0x03...0x77))
            let transport: BME280Driver.Transport = switch transportName {
            case "i2c": .i2c(path: try config.requiredString("device"), address: address)
            case "spi": .spi(path: try config.requiredString("device"), mode: UInt8(try config.strictInt("spi_mode", default: 0, in: 0...3)),
                             speedHz: UInt32(try config.strictInt("spi_speed_hz", default: 1_000_000, in: 1000...10_000_000)))
            default: .emulated(address: address)
            }
            let mode = try config.strictString("mode", default: "forced", choices: BME280Mode.allCases.map(\.rawValue))
            let settings = BME280Settings(
                mode: BME280Mode(rawValue: mode)!,
                temperatureOversampling: try config.strictInt("oversampling_temperature", default: 1, in: 1...16),
                pressureOversampling: try config.strictInt("oversampling_pressure", default: 1, in: 1...16),
                humidityOversampling: try config.strictInt("oversampling_humidity", default: 1, in: 1...16),
                filter: try config.strictInt("filter", default: 0, in: 0...16),
                standbyMillis: try config.strictDouble("standby_ms", default: 1000, in: 0.5...1000))
            if let problem = settings.problem { throw ConfigurationError(key: "", problem) }
            self.kind = .bme280(BME280Driver.Configuration(
                transport: transport, settings: settings, deviceID: try config.strictString("device_id", default: name),
                pollIntervalMillis: try config.strictInt("poll_interval_ms", default: 1000, in: 10...3_600_000)))
        default:
            throw ConfigurationError(key: "kind", "is not one of \(Self.kinds.joined(separator: ", "))")
        }
    }

    static func serial(_ config: ConfigReader, defaultParity: SerialSettings.Parity, defaultBaud: Int = 9600) throws(ConfigurationError) -> SerialSettings {
        let baud = try config.strictInt("baud", default: defaultBaud, in: 1...4_000_000)
        guard SerialSettings.isSupported(baud: baud) else {
            throw ConfigurationError(key: "baud", "\(baud) is not a standard rate (1200 … 115200, 230400, 460800, 921600, …)")
        }
        let parity = try config.strictString("parity", default: defaultParity.rawValue, choices: SerialSettings.Parity.allCases.map(\.rawValue))
        return SerialSettings(baud: baud, dataBits: try config.strictInt("data_bits", default: 8, in: 5...8),
                              parity: SerialSettings.Parity(rawValue: parity)!,
                              stopBits: try config.strictInt("stop_bits", default: 1, in: 1...2))
    }

    static func point(_ config: ConfigReader, name: String, bus: String) throws(ConfigurationError) -> ModbusPoint {
        let table = try config.strictString("table", default: "holding", choices: ModbusRTU.Table.allCases.map(\.rawValue))
        let type = try config.strictString("type", default: "uint16", choices: ModbusPoint.ValueType.allCases.map(\.rawValue))
        let order = try config.strictString("word_order", default: "big", choices: ModbusPoint.WordOrder.allCases.map(\.rawValue))
        return ModbusPoint(
            name: name, device: try config.strictString("device", default: bus), metric: try config.strictString("metric", default: name),
            slave: UInt8(try config.strictInt("slave", default: 1, in: 1...247)), table: ModbusRTU.Table(rawValue: table)!,
            address: UInt16(try config.requiredInt("address", in: 0...65535)), type: ModbusPoint.ValueType(rawValue: type)!,
            wordOrder: ModbusPoint.WordOrder(rawValue: order)!, scale: try config.strictDouble("scale", default: 1),
            offset: try config.strictDouble("offset", default: 0))
    }
}
