/// One reading of one metric of one device at one instant.
public struct Sample: Sendable, Hashable {
    /// Index into the device table of the batch (or hub) the sample belongs to.
    public var deviceIndex: UInt32
    /// Index into the metric table of the batch (or hub).
    public var metricIndex: UInt16
    /// Sample time in microseconds since the Unix epoch.
    public var timestampMicros: Int64
    /// The measured value.
    public var value: Double

    /// A sample of metric `metricIndex` of device `deviceIndex` at `timestampMicros`.
    @inlinable
    public init(deviceIndex: UInt32, metricIndex: UInt16, timestampMicros: Int64, value: Double) {
        self.deviceIndex = deviceIndex
        self.metricIndex = metricIndex
        self.timestampMicros = timestampMicros
        self.value = value
    }
}

/// The metrics every sensor of the seeds reports, with their units.
public enum StandardMetric: String, CaseIterable, Sendable {
    /// Temperature in °C, relative humidity in %, pressure in hPa.
    case temperature, humidity, pressure

    /// The unit stored in the `metrics` table.
    public var unit: String {
        switch self {
        case .temperature: "°C"
        case .humidity: "%"
        case .pressure: "hPa"
        }
    }
}
