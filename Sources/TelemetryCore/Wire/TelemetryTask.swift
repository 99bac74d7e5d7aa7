
/// A task in the seed wire format (Docs/architecture.md), as pushed by third-party producers with
/// `RPUSH telemetry:tasks '<json>'`.
///
/// ```swift
/// let task = try TelemetryTaskCodec.decode(Array(json.utf8))
/// for (metric, value) in task.metrics { … }
/// ```
public struct TelemetryTask: Sendable, Equatable {
    /// The five task types; each selects the analysis run on top of storing the samples.
    public enum Kind: String, Sendable, CaseIterable {
        case analyze = "telemetry.analyze"
        case anomalyDetect = "telemetry.anomaly_detect"
        case aggregate = "telemetry.aggregate"
        case store = "telemetry.store"
        case alert = "telemetry.alert"
    }

    /// Task priority; within a window, higher priorities are processed first.
    public enum Priority: Int, Sendable, Comparable, CaseIterable {
        case low = 0, normal = 1, high = 2, critical = 3

        /// The priority named `LOW`, `NORMAL`, `HIGH` or `CRITICAL` (in any case); nil for another name.
        public init?(name: String) {
            switch name.uppercased() {
            case "LOW": self = .low
            case "NORMAL": self = .normal
            case "HIGH": self = .high
            case "CRITICAL": self = .critical
            default: return nil
            }
        }

        /// Orders by urgency, `.low` first.
        public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    /// The task id (`id`: 1 to 128 bytes, no control characters).
    public var id: String
    /// The task type (`type`).
    public var kind: Kind
    /// The device the samples belong to (`payload.device_id`).
    public var deviceID: String
    /// The samples' time (`payload.timestamp`), in microseconds since the epoch.
    public var timestampMicros: Int64
    /// Every numeric field of `payload`, sorted by name.
    public var metrics: [MetricValue]
    /// `raw_data`, kept opaque (never decoded).
    public var rawData: String?
    /// `priority`; `.normal` when absent.
    public var priority: Priority
    /// Retries after the first attempt, when the task names them.
    public var maxRetries: Int?

    /// A task of the given fields, taken as they are (not validated, `metrics` not sorted).
    public init(id: String, kind: Kind, deviceID: String, timestampMicros: Int64, metrics: [MetricValue],
                rawData: String? = nil, priority: Priority = .normal, maxRetries: Int? = nil) {
        self.id = id
        self.kind = kind
        self.deviceID = deviceID
        self.timestampMicros = timestampMicros
        self.metrics = metrics
        self.rawData = rawData
        self.priority = priority
        self.maxRetries = maxRetries
    }
}

/// One device's values at one time, as a task's payload or an HTTP sample carries them.
public struct SampleReading: Sendable, Equatable {
    /// The device id (`device_id`: 1 to 128 bytes, no control characters).
    public var deviceID: String
    /// The time of the reading, in microseconds since the epoch.
    public var timestampMicros: Int64
    /// Sorted by name.
    public var metrics: [MetricValue]
    /// `raw_data`, kept opaque (never decoded).
    public var rawData: String?
    /// The device's labels the reading carries (line protocol: tags and kept string fields).
    public var labels: [DeviceLabel]

    /// A reading of the given fields, taken as they are (not validated, `metrics` not sorted).
    public init(deviceID: String, timestampMicros: Int64, metrics: [MetricValue], rawData: String? = nil, labels: [DeviceLabel] = []) {
        self.deviceID = deviceID
        self.timestampMicros = timestampMicros
        self.metrics = metrics
        self.rawData = rawData
        self.labels = labels
    }
}

/// A named numeric value: one metric of a task or reading.
public struct MetricValue: Sendable, Equatable {
    /// The metric name.
    public var name: String
    /// The metric's value.
    public var value: Double
    /// The value `value` of metric `name`.
    public init(name: String, value: Double) {
        self.name = name
        self.value = value
    }
}

/// Decoder of the seed task format; every failure is a ``TelemetryError`` with a reason code.
public enum TelemetryTaskCodec {
    /// Largest accepted task, in bytes (`too_large` beyond).
    public static let defaultMaxBytes = 1 << 20
    /// Longest accepted device id, in UTF-8 bytes.
    public static let maxDeviceIDBytes = 128
    static let reservedPayloadKeys: Set<String> = ["device_id", "timestamp", "raw_data"]

    /// Decodes one task from its JSON bytes.
    public static func decode(_ bytes: [UInt8], maxBytes: Int = defaultMaxBytes,
                              maxFields: Int = ValidationPolicy.defaultMaxFields) throws(TelemetryError) -> TelemetryTask {
        guard bytes.count <= maxBytes else {
            throw TelemetryError(.tooLarge, "task is \(bytes.count) bytes, the limit is \(maxBytes)")
        }
        let root: JSONValue
        do {
            root = try JSONParser.parse(bytes)
        } catch {
            // Invalid UTF-8 never parses, so it is looked for only when parsing failed.
            guard JSONParser.isValidUTF8(bytes) else { throw TelemetryError(.invalidUTF8, "task is not valid UTF-8") }
            if containsNonFiniteLiteral(bytes) {
                throw TelemetryError(.nonFinite, "task contains NaN or Infinity, which JSON cannot carry")
            }
            throw TelemetryError(.malformedJSON, "task is not valid JSON")
        }
        guard case .object(let object) = root else {
            throw TelemetryError(.malformedJSON, "task must be a JSON object, got \(root.typeName)")
        }
        if let version = object["version"] {
            guard case .number(let v) = version, v == 1 else {
                throw TelemetryError(.unsupportedVersion, "task version \(version) is not supported (supported: 1)")
            }
        }
        let id = try string(object, "id")
        guard !id.isEmpty, id.utf8.count <= 128 else { throw TelemetryError(.invalidField, "id must have 1 to 128 bytes") }
        guard !ValidationPolicy.containsControlCharacters(id) else {
            throw TelemetryError(.invalidField, "id \(PrintableName(id)) contains control characters")
        }
        let typeName = try string(object, "type")
        guard let kind = TelemetryTask.Kind(rawValue: typeName) else {
            throw TelemetryError(.unknownType, "unknown task type \"\(typeName.prefix(64))\"")
        }
        guard let payloadValue = object["payload"] else { throw TelemetryError(.missingField, "missing field payload") }
        guard case .object(let payload) = payloadValue else {
            throw TelemetryError(.invalidField, "payload must be an object, got \(payloadValue.typeName)")
        }
        let reading = try Self.reading(payload, path: "payload.", maxFields: maxFields)
        var priority = TelemetryTask.Priority.normal
        switch object["priority"] {
        case nil, .null?: break
        case .string(let name)?:
            guard let p = TelemetryTask.Priority(name: name) else {
                throw TelemetryError(.invalidField, "priority must be LOW, NORMAL, HIGH or CRITICAL")
            }
            priority = p
        case let other?:
            throw TelemetryError(.invalidField, "priority must be a string, got \(other.typeName)")
        }
        var maxRetries: Int?
        switch object["max_retries"] {
        case nil, .null?: break
        case .number(let n)?:
            guard n == n.rounded(), n >= 0, n <= 100 else { throw TelemetryError(.invalidField, "max_retries must be an integer in 0…100") }
            maxRetries = Int(n)
        case let other?:
            throw TelemetryError(.invalidField, "max_retries must be a number, got \(other.typeName)")
        }
        return TelemetryTask(id: id, kind: kind, deviceID: reading.deviceID, timestampMicros: reading.timestampMicros,
                             metrics: reading.metrics, rawData: reading.rawData, priority: priority, maxRetries: maxRetries)
    }

    /// Reads one device reading from a JSON object with the seed payload's fields (`device_id`,
    /// `timestamp` as RFC 3339 or integer epoch milliseconds, numeric fields, optional `raw_data`):
    /// the task's `payload`, or one sample of `POST /v1/samples`. `path` prefixes field names in errors.
    /// More than `maxFields` numeric fields refuse the reading whole (`too_large`); a control
    /// character in the device id or a metric name refuses it as `invalid_field`.
    public static func reading(_ payload: [String: JSONValue], path: String,
                               maxFields: Int = ValidationPolicy.defaultMaxFields) throws(TelemetryError) -> SampleReading {
        let deviceID = try string(payload, "device_id", path: path)
        guard !deviceID.isEmpty, deviceID.utf8.count <= maxDeviceIDBytes else {
            throw TelemetryError(.invalidField, "\(path)device_id must have 1 to \(maxDeviceIDBytes) bytes")
        }
        guard !ValidationPolicy.containsControlCharacters(deviceID) else {
            throw TelemetryError(.invalidField, "\(path)device_id contains control characters")
        }
        let timestamp: Int64
        switch payload["timestamp"] {
        case nil, .null?:
            throw TelemetryError(.missingField, "missing field \(path)timestamp")
        case .string(let text)?:
            guard let micros = Timestamp.parseRFC3339(text) else {
                throw TelemetryError(.invalidField, "\(path)timestamp is not an RFC 3339 time: \"\(text.prefix(40))\"")
            }
            timestamp = micros
        case .number(let millis)?:
            guard millis.isFinite, millis == millis.rounded(), abs(millis) < 1e15 else {
                throw TelemetryError(.invalidField, "\(path)timestamp must be integer epoch milliseconds")
            }
            timestamp = Int64(millis) * 1000
        case let other?:
            throw TelemetryError(.invalidField, "\(path)timestamp must be a string or a number, got \(other.typeName)")
        }
        var rawData: String?
        if let raw = payload["raw_data"] {
            guard case .string(let text) = raw else { throw TelemetryError(.invalidField, "\(path)raw_data must be a string") }
            rawData = text
        }
        var metrics: [MetricValue] = []
        for (key, value) in payload where !reservedPayloadKeys.contains(key) {
            switch value {
            case .number(let number):
                guard number.isFinite else { throw TelemetryError(.nonFinite, "\(path)\(key) is not finite") }
                guard !key.isEmpty, key.utf8.count <= 64 else {
                    throw TelemetryError(.invalidField, "metric names must have 1 to 64 bytes")
                }
                guard !ValidationPolicy.containsControlCharacters(key) else {
                    throw TelemetryError(.invalidField, "\(path)metric name \(PrintableName(key)) contains control characters")
                }
                guard metrics.count < maxFields else {
                    throw TelemetryError(.tooLarge, "\(path.isEmpty ? "sample" : String(path.dropLast())) has more than \(maxFields) numeric fields (validation.max_fields)")
                }
                metrics.append(MetricValue(name: key, value: number))
            case .string(let text) where StandardMetric(rawValue: key) != nil:
                let lowered = text.lowercased()
                if ["nan", "inf", "infinity", "-inf", "-infinity", "+inf", "+infinity"].contains(lowered) {
                    throw TelemetryError(.nonFinite, "\(path)\(key) is \(text)")
                }
                throw TelemetryError(.invalidField, "\(path)\(key) must be a number, got a string")
            case .string:
                continue  // descriptive metadata, not a metric
            default:
                throw TelemetryError(.invalidField, "\(path)\(key) must be a number, got \(value.typeName)")
            }
        }
        guard !metrics.isEmpty else { throw TelemetryError(.missingField, "\(path.isEmpty ? "sample" : String(path.dropLast())) has no numeric field") }
        metrics.sort { $0.name < $1.name }
        return SampleReading(deviceID: deviceID, timestampMicros: timestamp, metrics: metrics, rawData: rawData)
    }

    /// True when a bare `NaN` or `Infinity` appears outside strings (a common producer bug).
    static func containsNonFiniteLiteral(_ bytes: [UInt8]) -> Bool {
        var inString = false
        var escaped = false
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
            } else if byte == UInt8(ascii: "\"") {
                inString = true
            } else if byte == UInt8(ascii: "N") || byte == UInt8(ascii: "I") {
                let word = byte == UInt8(ascii: "N") ? Array("NaN".utf8) : Array("Infinity".utf8)
                if bytes.count - index >= word.count, Array(bytes[index..<(index + word.count)]) == word { return true }
            }
            index += 1
        }
        return false
    }

    /// Best-effort task id of an undecodable task, for the dead letter's `source_id`.
    public static func salvageID(_ bytes: [UInt8]) -> String? {
        guard bytes.count <= defaultMaxBytes,
              case .object(let object)? = try? JSONParser.parse(bytes),
              case .string(let id)? = object["id"] else { return nil }
        return String(id.prefix(128))
    }

    private static func string(_ object: [String: JSONValue], _ key: String, path: String = "") throws(TelemetryError) -> String {
        switch object[key] {
        case nil, .null?: throw TelemetryError(.missingField, "missing field \(path)\(key)")
        case .string(let s)?: return s
        case let other?: throw TelemetryError(.invalidField, "\(path)\(key) must be a string, got \(other.typeName)")
        }
    }
}
