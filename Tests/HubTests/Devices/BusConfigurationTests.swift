import Buses
import Configuration
import Foundation
import Hub
import SystemPackage
import TelemetryConfiguration
import Testing

@Suite("Bus configuration")
struct BusConfigurationTests {
    /// The example of Docs/buses.md, as an operator would write it.
    static let example = """
        simulated:
          enabled: false
        buses:
          names: [bench, plc, climate]
          bench:
            kind: uart_lines
            device: /dev/ttyUSB0
            baud: 115200
          plc:
            kind: modbus_rtu
            device: /dev/ttyUSB1
            baud: 19200
            parity: even
            poll_interval_ms: 1000
            points: [boiler_temperature, boiler_pressure]
            point:
              boiler_temperature: {slave: 1, table: holding, address: 0, type: int16, scale: 0.1, device: boiler_1, metric: temperature}
              boiler_pressure: {slave: 1, table: input, address: 10, type: uint32, word_order: little, scale: 0.01, device: boiler_1, metric: pressure}
          climate:
            kind: bme280
            transport: i2c
            device: /dev/i2c-1
            address: 0x76
        """

    func yaml(_ text: String) async throws -> ConfigReader {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hub-\(UUID().uuidString).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return ConfigReader(provider: try await FileProvider<YAMLSnapshot>(filePath: FilePath(path)))
    }

    @Test("the documented example parses into the three buses it describes")
    func documentedExample() async throws {
        let configuration = try HubConfiguration(reader: try await yaml(Self.example))
        #expect(configuration.simulated == nil)
        #expect(configuration.buses.map(\.name) == ["bench", "plc", "climate"])
        #expect(configuration.buses[0].kind == .uartLines(UARTLineDriver.Configuration(device: "/dev/ttyUSB0", serial: SerialSettings(baud: 115_200))))
        guard case .modbusRTU(let modbus) = configuration.buses[1].kind else { Issue.record("plc is not Modbus"); return }
        #expect(modbus.serial == SerialSettings(baud: 19_200, parity: .even))
        #expect(modbus.points == [
            ModbusPoint(name: "boiler_temperature", device: "boiler_1", metric: "temperature", slave: 1, table: .holding, address: 0, type: .int16, scale: 0.1),
            ModbusPoint(name: "boiler_pressure", device: "boiler_1", metric: "pressure", slave: 1, table: .input, address: 10, type: .uint32,
                        wordOrder: .little, scale: 0.01),
        ])
        guard case .bme280(let bme) = configuration.buses[2].kind else { Issue.record("climate is not a BME280"); return }
        #expect(bme.transport == .i2c(path: "/dev/i2c-1", address: 0x76))
        #expect(bme.deviceID == "climate")
        #expect(bme.settings == BME280Settings())
    }

    @Test("buses from the environment, the swift-configuration way")
    func environment() throws {
        let reader = ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: [
            "BUSES_NAMES": "uart0", "BUSES_UART0_KIND": "uart_lines", "BUSES_UART0_DEVICE": "/dev/pts/3",
            "BUSES_UART0_TIMESTAMP_PRECISION": "us", "BUSES_UART0_PARITY": "odd",
        ]))
        let configuration = try HubConfiguration(reader: reader)
        #expect(configuration.buses.first?.kind == .uartLines(UARTLineDriver.Configuration(
            device: "/dev/pts/3", serial: SerialSettings(parity: .odd), precision: .microseconds)))
    }

    @Test("a bad bus setting stops start-up with a message naming the key", arguments: [
        (["BUSES_NAMES": "a", "BUSES_A_KIND": "can"], "buses.a.kind"),
        (["BUSES_NAMES": "a", "BUSES_A_KIND": "uart_lines"], "buses.a.device"),
        (["BUSES_NAMES": "a", "BUSES_A_KIND": "uart_lines", "BUSES_A_DEVICE": "/dev/x", "BUSES_A_BAUD": "12345"], "buses.a.baud"),
        (["BUSES_NAMES": "a", "BUSES_A_KIND": "modbus_rtu", "BUSES_A_DEVICE": "/dev/x"], "buses.a.points"),
        (["BUSES_NAMES": "a", "BUSES_A_KIND": "modbus_rtu", "BUSES_A_DEVICE": "/dev/x", "BUSES_A_POINTS": "t"], "buses.a.point.t.address"),
        (["BUSES_NAMES": "a", "BUSES_A_KIND": "bme280", "BUSES_A_TRANSPORT": "emulated", "BUSES_A_OVERSAMPLING_PRESSURE": "3"], "buses.a"),
        (["BUSES_NAMES": "a,a"], "buses.names"),
    ])
    func invalid(environment: [String: String], key: String) {
        let reader = ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: environment))
        #expect {
            _ = try HubConfiguration(reader: reader)
        } throws: { error in
            guard let error = error as? ConfigurationError else { return false }
            return error.key == key
        }
    }

    @Test("the shipped hub.yaml still parses")
    func shipped() async throws {
        let text = try String(contentsOfFile: "Configuration/hub.yaml", encoding: .utf8)
        let configuration = try HubConfiguration(reader: try await yaml(text))
        #expect(configuration.buses.isEmpty)
        #expect(configuration.deadLetterBuffer == 10_000)
        // Production settings: no made-up readings, Redis on its standard port.
        #expect(configuration.simulated == nil)
        #expect(configuration.redis.endpoint.port == 6379)
    }
}
