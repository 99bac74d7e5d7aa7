/// Data-quality rules every sample must pass before it is stored (Docs/architecture.md).
public struct ValidationPolicy: Sendable, Equatable {
    /// Most numeric fields one task, HTTP sample or device line may carry (`validation.max_fields`);
    /// beyond it the input is refused whole as `too_large`.
    public static let defaultMaxFields = 1024

    /// True when `name` holds a C0 or C1 control character or DEL (NUL included): such a name is
    /// refused at ingest (`invalid_field`), since libpq parameters end at a NUL and logs and
    /// terminals misread the others.
    public static func containsControlCharacters(_ name: some StringProtocol) -> Bool {
        name.utf8.contains { $0 < 0x20 || $0 == 0x7f } || name.unicodeScalars.contains { (0x80...0x9f).contains($0.value) }
    }

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

    /// Most numeric fields of one task or reading (`validation.max_fields`).
    public var maxFields = ValidationPolicy.defaultMaxFields

    /// A policy of `ranges` per metric and the time bounds in microseconds, allowing
    /// ``defaultMaxFields`` fields.
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
        // Saturating bounds: a configured skew or retention near Int64's range must not trap.
        if timestampMicros > nowMicros.addingSaturating(maxFutureSkewMicros) {
            return TelemetryError(.timestampFuture, "timestamp \(Timestamp.formatRFC3339(micros: timestampMicros)) is in the future")
        }
        if timestampMicros < nowMicros.addingSaturating(-maxAgeMicros) {
            return TelemetryError(.timestampTooOld, "timestamp \(Timestamp.formatRFC3339(micros: timestampMicros)) is older than retention")
        }
        return nil
    }
}

extension Int64 {
    /// `self + other`, clamped to `Int64.min...Int64.max` instead of trapping.
    @inlinable
    public func addingSaturating(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }
}

/// A name from outside, quoted for a message or a log line with its control characters escaped
/// (`"a\u0000b"`) and cut after 64 Unicode scalars (then `…`), so a hostile name cannot forge or
/// hide text.
public struct PrintableName: CustomStringConvertible, Sendable {
    /// The quoted, escaped and possibly cut name.
    public let description: String

    /// Quotes `name` for a message or a log line.
    public init(_ name: some StringProtocol) {
        var out = "\""
        for (count, scalar) in name.unicodeScalars.enumerated() {
            if count == 64 { out += "…"; break }
            switch scalar.value {
            case 0x22: out += "\\\""
            case 0x5c: out += "\\\\"
            case 0..<0x20, 0x7f, 0x80...0x9f:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        description = out + "\""
    }
}
