/// How InfluxDB line-protocol points become samples (section `line_protocol`, Docs/http-ingest.md):
///
/// - the device is the value of the first of ``deviceTags`` the point carries (default
///   `device_id`, then `device`, then `host`); a point with none of them is refused
///   (`missing_field`), since a sample without a device cannot be stored;
/// - each integer, unsigned, float or boolean field is one sample, booleans as 0 and 1; its metric is
///   the field key (``MetricNaming/field``), so `environment,device_id=s1 temperature=21.5` meets the
///   same ranges as every other ingress, or `<measurement>.<field>` (``MetricNaming/measurementField``);
/// - the point's other tags are the device's labels (``DeviceLabel``);
/// - string fields are kept as labels too (``StringFields/keep``, the default: InfluxDB accepts them,
///   so a client's batch is not refused for them) or refuse their line (``StringFields/reject``).
public struct LineProtocolMapping: Sendable, Equatable {
    /// How a field becomes a metric name.
    public enum MetricNaming: String, Sendable, CaseIterable {
        /// The field key (`temperature`).
        case field
        /// `<measurement>.<field>` (`environment.temperature`).
        case measurementField = "measurement.field"
    }

    /// What becomes of string fields.
    public enum StringFields: String, Sendable, CaseIterable {
        /// Kept as the device's labels (kind `field`), the latest value and every change.
        case keep
        /// The line is refused (`invalid_field`).
        case reject
    }

    /// Tags naming the device, in order of preference.
    public var deviceTags: [String]
    /// How a field becomes a metric name.
    public var metricNaming: MetricNaming
    /// What becomes of string fields.
    public var stringFields: StringFields

    /// `device_id`, `device`, `host`; metric = field key; string fields kept.
    public init(deviceTags: [String] = ["device_id", "device", "host"], metricNaming: MetricNaming = .field, stringFields: StringFields = .keep) {
        self.deviceTags = deviceTags
        self.metricNaming = metricNaming
        self.stringFields = stringFields
    }
}

/// A device's label: a tag of a line-protocol point other than the one naming the device, or a
/// string field kept. The processor keeps each device's latest value per key and records every
/// change (Docs/http-ingest.md).
public struct DeviceLabel: Sendable, Hashable {
    /// Where a label came from.
    public enum Kind: UInt8, Sendable {
        /// A tag (`,site=north`).
        case tag = 0
        /// A string field (`status="running"`).
        case field = 1
    }

    /// The tag or field key.
    public var key: String
    /// Its value.
    public var value: String
    /// Tag or string field.
    public var kind: Kind

    /// A label.
    public init(key: String, value: String, kind: Kind) {
        self.key = key
        self.value = value
        self.kind = kind
    }

    /// Most bytes of a label key or value carried (longer ones are refused with their line).
    public static let maxKeyBytes = 256
    /// Most bytes of a label value.
    public static let maxValueBytes = 4096
}
