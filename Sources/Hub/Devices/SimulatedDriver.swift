import Buses
import TelemetryCore

/// The simulated bus as a driver: every sensor's temperature, humidity and pressure at
/// `rate_hz` readings per second, staged by index (no name lookup per sample).
package struct SimulatedDriver: BusDriver {
    package var kind: String { "simulated" }
    private var bus: SimulatedBus
    private let deviceIndexes: [UInt32]
    private let metricIndexes: (UInt16, UInt16, UInt16)
    /// Readings per sensor per second, read at every reading: a reload applies from the next one.
    private let rateHz: Reloadable<Double>
    /// Readings taken so far; kept across restarts so a readings limit holds.
    private var readingsTaken = 0
    private let clock = ContinuousClock()
    private var deadline: ContinuousClock.Instant?

    package init(configuration: SimulatedBusConfiguration, rateHz: Reloadable<Double>, catalog: DeviceCatalog) {
        bus = SimulatedBus(configuration: configuration)
        self.rateHz = rateHz
        deviceIndexes = bus.deviceNames.map { catalog.device($0) }
        metricIndexes = (
            catalog.metric(StandardMetric.temperature.rawValue),
            catalog.metric(StandardMetric.humidity.rawValue),
            catalog.metric(StandardMetric.pressure.rawValue))
    }


    package var isFinished: Bool { bus.configuration.readings > 0 && readingsTaken >= bus.configuration.readings }

    package mutating func connect(_ output: BusOutput) throws(BusError) {}

    package mutating func disconnect(_ output: BusOutput) {}

    package mutating func poll(_ output: BusOutput, isolation: isolated (any Actor)? = #isolation) async throws {
        let interval = Duration.nanoseconds(Int64(1e9 / rateHz.value))
        if let deadline {
            let next = max(deadline + interval, clock.now - interval)
            try await Task.sleep(until: next, clock: clock)
            self.deadline = next
        } else {
            deadline = clock.now
        }
        let timestamp = output.receiveTimestamp()
        for sensor in deviceIndexes.indices {
            let (t, h, p) = bus.read(sensor: sensor)
            let device = deviceIndexes[sensor]
            output.sample(device: device, metric: metricIndexes.0, timestampMicros: timestamp, value: t)
            output.sample(device: device, metric: metricIndexes.1, timestampMicros: timestamp, value: h)
            output.sample(device: device, metric: metricIndexes.2, timestampMicros: timestamp, value: p)
        }
        output.readingTaken(samples: deviceIndexes.count * 3)
        readingsTaken += 1
    }
}
