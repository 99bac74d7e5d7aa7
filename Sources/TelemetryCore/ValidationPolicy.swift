/// Data-quality rules every sample must pass before it is stored (DESIGN.md §5).
public struct ValidationPolicy: Sendable, Equatable {
    /// Accepted value range per metric name; metrics without an entry accept any finite value.
    public var ranges: [String: ClosedRange<Double>]
    /// How far in the future a timestamp may be, in microseconds.
    public var maxFutureSkewMicros: Int64
    /// How far in the past a timestamp may be (the samples' retention), in microseconds.
    public var maxAgeMicros: Int64

    /// Defaults: temperature −50…100 °C, humidity 0…100 %, pressure 300…1100 hPa, 5 minutes of
    /// future skew, 30 days of retention.
    public static let `default` = ValidationPolicy(
        ranges: ["temperature": -50...100, "humidity": 0...100, "pressure": 300...1100],
        maxFutureSkewMicros: 5 * 60 * 1_000_000,
        maxAgeMicros: 30 * 86_400 * 1_000_000
    )

    public init(ranges: [String: ClosedRange<Double>], maxFutureSkewMicros: Int64, maxAgeMicros: Int64) {
        self.ranges = ranges
        self.maxFutureSkewMicros = maxFutureSkewMicros
        self.maxAgeMicros = maxAgeMicros
    }

    /// Nil when the sample is acceptable, else the reason it is not.
    public func violation(metric: String, timestampMicros: Int64, value: Double, nowMicros: Int64) -> TelemetryError? {
        guard value.isFinite else { return TelemetryError(.nonFinite, "\(metric) is not finite") }
        if let range = ranges[metric], !range.contains(value) {
            return TelemetryError(.outOfRange, "\(metric)=\(value) is outside \(range.lowerBound)…\(range.upperBound)")
        }
        if timestampMicros > nowMicros + maxFutureSkewMicros {
            return TelemetryError(.timestampFuture, "timestamp \(Timestamp.formatRFC3339(micros: timestampMicros)) is in the future")
        }
        if timestampMicros < nowMicros - maxAgeMicros {
            return TelemetryError(.timestampTooOld, "timestamp \(Timestamp.formatRFC3339(micros: timestampMicros)) is older than retention")
        }
        return nil
    }
}
