public import TelemetryCore
public import TelemetryRing

/// Reads one bus and pushes every reading into the bus's own ring.
///
/// The push is a `nonisolated` call on the C ring: no actor hop, no allocation, no lock. When the
/// ring is full the actor waits (backpressure from the ingest side) and counts the wait; nothing
/// is dropped. This version drives the simulated bus.
public actor DeviceActor {
    public nonisolated let name: String
    /// The bus's ring; the ingest actor is its only consumer.
    public nonisolated let ring: SampleRing
    private var bus: SimulatedBus
    private let deviceIndexes: [UInt32]
    private let metricIndexes: (UInt16, UInt16, UInt16)
    private let counters: HubCounters
    /// This bus's own counters (the hub's are totals).
    public nonisolated let busCounters = BusCounters()
    private var sequence: UInt64 = 0
    /// Readings taken so far; kept across restarts of ``run()`` so a readings limit holds.
    private var readingsTaken = 0
    /// Readings per sensor per second, read at every reading: a reload applies from the next one.
    private let rateHz: Reloadable<Double>
    private var lastTimestamp: Int64 = 0
    /// One reading of every sensor, published to the ring at once.
    private let staging: RingPushBuffer

    public init(simulated configuration: SimulatedBusConfiguration, rateHz: Reloadable<Double>, catalog: DeviceCatalog,
                ringCapacity: Int, counters: HubCounters) {
        name = "simulated"
        bus = SimulatedBus(configuration: configuration)
        self.rateHz = rateHz
        ring = SampleRing(capacity: ringCapacity)
        staging = RingPushBuffer(capacity: max(1, configuration.sensors * 3))
        deviceIndexes = bus.deviceNames.map { catalog.device($0) }
        metricIndexes = (
            catalog.metric(StandardMetric.temperature.rawValue),
            catalog.metric(StandardMetric.humidity.rawValue),
            catalog.metric(StandardMetric.pressure.rawValue))
        self.counters = counters
    }

    /// Reads until the configured number of readings per sensor is reached (forever when 0) or
    /// the task is cancelled.
    public func run() async throws {
        let configuration = bus.configuration
        let clock = ContinuousClock()
        var deadline = clock.now
        try await publish()  // what a cancelled run left staged goes first
        while configuration.readings == 0 || readingsTaken < configuration.readings {
            try Task.checkCancellation()
            var timestamp = wallClockMicros()
            if timestamp <= lastTimestamp { timestamp = lastTimestamp + 1 }
            lastTimestamp = timestamp
            for sensor in deviceIndexes.indices {
                let (t, h, p) = bus.read(sensor: sensor)
                let device = deviceIndexes[sensor]
                stage(Sample(deviceIndex: device, metricIndex: metricIndexes.0, timestampMicros: timestamp, value: t))
                stage(Sample(deviceIndex: device, metricIndex: metricIndexes.1, timestampMicros: timestamp, value: h))
                stage(Sample(deviceIndex: device, metricIndex: metricIndexes.2, timestampMicros: timestamp, value: p))
            }
            try await publish()
            counters.samplesRead.add(deviceIndexes.count * 3, ordering: .relaxed)
            busCounters.samplesRead.add(deviceIndexes.count * 3, ordering: .relaxed)
            readingsTaken += 1
            let interval = Duration.nanoseconds(Int64(1e9 / rateHz.value))
            deadline = max(deadline + interval, clock.now - interval)
            try await Task.sleep(until: deadline, clock: clock)
        }
    }

    @inline(__always)
    private func stage(_ sample: Sample) {
        sequence &+= 1
        staging.append(sample, sequence: sequence)
    }

    /// Publishes the staged reading; while the ring is full, waits (counted) and tries again.
    private func publish() async throws {
        while !staging.push(to: ring) {
            counters.ringFullWaits.add(1, ordering: .relaxed)
            busCounters.ringFullWaits.add(1, ordering: .relaxed)
            try await Task.sleep(for: .milliseconds(1))
        }
    }
}
