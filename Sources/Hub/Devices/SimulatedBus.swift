import TelemetryCore

/// A deterministic generator of plausible readings: each sensor's temperature (°C), humidity (%)
/// and pressure (hPa) follow a bounded random walk; with `spikeProbability` a temperature reading
/// jumps above the default alert threshold (60 °C) while staying inside validation (≤ 100 °C).
package struct SimulatedBus: Sendable {
    struct SensorState: Sendable {
        var temperature: Double
        var humidity: Double
        var pressure: Double
    }

    package let configuration: SimulatedBusConfiguration
    package let deviceNames: [String]
    private var sensors: [SensorState]
    private var random: SplitMix64

    package init(configuration: SimulatedBusConfiguration) {
        self.configuration = configuration
        var random = SplitMix64(seed: configuration.seed)
        deviceNames = (0..<configuration.sensors).map { i in
            let number = String(i + 1)
            return "\(configuration.devicePrefix)_\(String(repeating: "0", count: max(0, 3 - number.count)))\(number)"
        }
        sensors = (0..<configuration.sensors).map { _ in
            SensorState(
                temperature: 18 + random.nextUnit() * 8,
                humidity: 40 + random.nextUnit() * 20,
                pressure: 1005 + random.nextUnit() * 15)
        }
        self.random = random
    }

    /// Advances sensor `index` by one reading; returns (temperature, humidity, pressure).
    package mutating func read(sensor index: Int) -> (Double, Double, Double) {
        var s = sensors[index]
        s.temperature = min(35, max(10, s.temperature + (random.nextUnit() - 0.5) * 0.4))
        s.humidity = min(85, max(15, s.humidity + (random.nextUnit() - 0.5) * 1.0))
        s.pressure = min(1040, max(980, s.pressure + (random.nextUnit() - 0.5) * 0.6))
        sensors[index] = s
        var temperature = s.temperature
        if configuration.spikeProbability > 0, random.nextUnit() < configuration.spikeProbability {
            temperature = 70 + random.nextUnit() * 20
        }
        return (temperature, s.humidity, s.pressure)
    }
}
