import TelemetryCore

/// What one MQTT message's payload becomes (Docs/mqtt.md): readings, and the reason it (or some
/// of its lines) was refused, for the dead letters.
package struct MQTTMessageReadings: Sendable {
    /// The readings to store.
    package var readings: [SampleReading] = []
    /// Why the message, or some of its lines, was refused; nil when all of it was taken.
    package var rejection: TelemetryError?
    /// String fields of line protocol kept as labels.
    package var stringFieldsKept = 0

    /// Reads `payload`, which arrived at `arrivalMicros` on `topic`, as `subscription` says.
    package static func read(topic: String, payload: [UInt8], subscription: MQTTSubscription, captures: [Substring],
                             mapping: LineProtocolMapping, arrivalMicros: Int64, maxFields: Int) -> MQTTMessageReadings {
        var result = MQTTMessageReadings()
        do throws(TelemetryError) {
            switch subscription.format {
            case .value:
                result.readings = [try value(payload, device: String(captures[0]), metric: String(captures[1]), arrivalMicros: arrivalMicros)]
            case .json:
                result.readings = try json(payload, device: captures.first.map(String.init), arrivalMicros: arrivalMicros, maxFields: maxFields)
            case .lineProtocol:
                let document = LineProtocolDocument.parse(payload, nanosPerUnit: 1, mapping: mapping, nowMicros: arrivalMicros, maxFields: maxFields)
                result.readings = document.samples.readings
                result.stringFieldsKept = document.stringFieldsKept
                if let first = document.samples.rejected.first {
                    result.rejection = TelemetryError(TelemetryError.Code(text: first.reason) ?? .malformedLine,
                                                      "\(document.samples.rejectedCount) line(s) refused; line \(first.line): \(first.message)")
                } else if document.samples.readings.isEmpty {
                    result.rejection = TelemetryError(.missingField, "the payload holds no point")
                }
            }
        } catch {
            result.readings = []
            result.rejection = error
        }
        return result
    }

    /// A number, `true`/`false`, or `{"value": …, "ts": …}` (`ts` as epoch milliseconds or RFC 3339).
    static func value(_ payload: [UInt8], device: String, metric: String, arrivalMicros: Int64) throws(TelemetryError) -> SampleReading {
        try checkName(device, what: "device", limit: TelemetryTaskCodec.maxDeviceIDBytes)
        try checkName(metric, what: "metric", limit: 64)
        let parsed = try parse(payload)
        var timestamp = arrivalMicros
        let number: Double
        switch parsed {
        case .number(let n): number = n
        case .bool(let flag): number = flag ? 1 : 0
        case .object(let object):
            switch object["value"] {
            case .number(let n)?: number = n
            case .bool(let flag)?: number = flag ? 1 : 0
            default: throw TelemetryError(.invalidField, "the payload's \"value\" must be a number")
            }
            if let ts = object["ts"] ?? object["timestamp"] { timestamp = try time(ts) }
        default:
            throw TelemetryError(.invalidField, "the payload must be a number or {\"value\": …, \"ts\": …}, got \(parsed.typeName)")
        }
        guard number.isFinite else { throw TelemetryError(.nonFinite, "\(metric) is not finite") }
        return SampleReading(deviceID: device, timestampMicros: timestamp, metrics: [MetricValue(name: metric, value: number)])
    }

    /// The seed's sample object, or an array of them; `device_id` defaults to the topic's first
    /// `+` level and `timestamp` to the arrival time.
    static func json(_ payload: [UInt8], device: String?, arrivalMicros: Int64, maxFields: Int) throws(TelemetryError) -> [SampleReading] {
        let parsed = try parse(payload)
        let objects: [JSONValue]
        switch parsed {
        case .object: objects = [parsed]
        case .array(let elements) where !elements.isEmpty: objects = elements
        default: throw TelemetryError(.malformedJSON, "the payload must be a JSON object or a non-empty array of them, got \(parsed.typeName)")
        }
        guard objects.count <= 10_000 else { throw TelemetryError(.tooLarge, "more than 10 000 samples in one message") }
        var readings: [SampleReading] = []
        for (index, element) in objects.enumerated() {
            guard case .object(var object) = element else {
                throw TelemetryError(.malformedJSON, "element \(index) is not a JSON object")
            }
            if object["device_id"] == nil, let device { object["device_id"] = .string(device) }
            if object["timestamp"] == nil { object["timestamp"] = .number(Double(Timestamp.floorDivision(arrivalMicros, 1000).quotient)) }
            readings.append(try TelemetryTaskCodec.reading(object, path: objects.count > 1 ? "[\(index)]." : "", maxFields: maxFields))
        }
        return readings
    }

    private static func parse(_ payload: [UInt8]) throws(TelemetryError) -> JSONValue {
        do {
            return try JSONParser.parse(payload)
        } catch {
            guard JSONParser.isValidUTF8(payload) else { throw TelemetryError(.invalidUTF8, "the payload is not valid UTF-8") }
            throw TelemetryError(.malformedJSON, "the payload is not a number or JSON")
        }
    }

    private static func time(_ value: JSONValue) throws(TelemetryError) -> Int64 {
        switch value {
        case .number(let millis) where millis.isFinite && millis == millis.rounded() && abs(millis) < 1e15:
            return Int64(millis) * 1000
        case .string(let text):
            guard let micros = Timestamp.parseRFC3339(text) else { throw TelemetryError(.invalidField, "ts is not an RFC 3339 time") }
            return micros
        default:
            throw TelemetryError(.invalidField, "ts must be integer epoch milliseconds or an RFC 3339 time")
        }
    }

    private static func checkName(_ name: String, what: String, limit: Int) throws(TelemetryError) {
        guard !name.isEmpty, name.utf8.count <= limit else { throw TelemetryError(.invalidField, "the topic's \(what) must have 1 to \(limit) bytes") }
        guard !ValidationPolicy.containsControlCharacters(name) else {
            throw TelemetryError(.invalidField, "the topic's \(what) \(PrintableName(name)) contains control characters")
        }
    }
}
