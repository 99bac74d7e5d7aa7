import Buses
import TelemetryCore

/// A Bosch BME280 on I2C (i2c-dev) or SPI (spidev), or an emulated one: temperature (°C),
/// humidity (%) and pressure (hPa) of one device every `poll_interval_ms`.
///
/// A chip that does not answer with the BME280's id is a configuration error: reported with what
/// was found, and tried again with backoff (the wiring or the address may be fixed meanwhile).
package struct BME280Driver: BusDriver {
    package enum Transport: Sendable, Equatable {
        case i2c(path: String, address: UInt8)
        case spi(path: String, mode: UInt8, speedHz: UInt32)
        /// An ``EmulatedBME280`` register map: a configuration can be tried without the hardware.
        case emulated(address: UInt8)
    }

    package struct Configuration: Sendable, Equatable {
        package var transport: Transport
        package var settings: BME280Settings
        package var deviceID: String
        package var pollIntervalMillis: Int

        package init(transport: Transport, settings: BME280Settings, deviceID: String, pollIntervalMillis: Int = 1000) {
            self.transport = transport
            self.settings = settings
            self.deviceID = deviceID
            self.pollIntervalMillis = pollIntervalMillis
        }
    }

    package var kind: String { "bme280" }
    package let configuration: Configuration
    private var sensor: BME280<AnyRegisterBus>?
    private var indexes: (device: UInt32, temperature: UInt16, humidity: UInt16, pressure: UInt16)?
    private var timer = PollTimer()
    private let makeBus: (Transport) throws(BusError) -> AnyRegisterBus

    /// `makeBus` opens the transport; tests pass their own register maps.
    package init(configuration: Configuration, makeBus: @escaping (Transport) throws(BusError) -> AnyRegisterBus = BME280Driver.openBus) {
        self.configuration = configuration
        self.makeBus = makeBus
    }

    package static func openBus(_ transport: Transport) throws(BusError) -> AnyRegisterBus {
        switch transport {
        case .i2c(let path, let address): AnyRegisterBus(I2CRegisterBus(transport: try LinuxI2C(path: path), address: address))
        case .spi(let path, let mode, let speed): AnyRegisterBus(SPIRegisterBus(transport: try LinuxSPI(path: path, mode: mode, speedHz: speed)))
        case .emulated(let address): AnyRegisterBus(I2CRegisterBus(transport: EmulatedBME280(address: address), address: address))
        }
    }

    package var detail: String? {
        let target = switch configuration.transport {
        case .i2c(let path, let address): "\(path) address 0x\(String(address, radix: 16))"
        case .spi(let path, let mode, let speed): "\(path) mode \(mode) \(speed) Hz"
        case .emulated: "emulated register map"
        }
        return "\(target): \(sensor == nil ? "not configured" : "\(configuration.settings.mode) mode")"
    }

    package mutating func connect(_ output: BusOutput) throws(BusError) {
        if indexes == nil {
            indexes = (output.catalog.device(configuration.deviceID), output.catalog.metric(StandardMetric.temperature.rawValue),
                       output.catalog.metric(StandardMetric.humidity.rawValue), output.catalog.metric(StandardMetric.pressure.rawValue))
        }
        var sensor = BME280(bus: try makeBus(configuration.transport), settings: configuration.settings)
        try sensor.configure()
        self.sensor = sensor
    }

    package mutating func disconnect(_ output: BusOutput) {
        sensor = nil
    }

    package mutating func poll(_ output: BusOutput, isolation: isolated (any Actor)? = #isolation) async throws {
        try await timer.wait(interval: .milliseconds(configuration.pollIntervalMillis))
        guard var sensor, let indexes else { throw BusError(.io, "the BME280 is not configured", reconnect: true) }
        let reading: BME280Reading
        do throws(BusError) {
            reading = try sensor.read()
        } catch {
            // Any bus error may mean the chip was reset or unplugged: configure it again.
            throw BusError(error.kind, error.message, reconnect: true)
        }
        self.sensor = sensor
        let timestamp = output.receiveTimestamp()
        output.sample(device: indexes.device, metric: indexes.temperature, timestampMicros: timestamp, value: reading.temperatureCelsius)
        output.sample(device: indexes.device, metric: indexes.humidity, timestampMicros: timestamp, value: reading.humidityPercent)
        output.sample(device: indexes.device, metric: indexes.pressure, timestampMicros: timestamp, value: reading.pressureHectopascal)
        output.readingTaken(samples: 3)
    }
}
