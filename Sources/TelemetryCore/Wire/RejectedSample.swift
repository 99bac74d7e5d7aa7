/// One sample refused from a batch whose other samples were stored: the payload of its dead
/// letter is one JSON object per refused sample and line, which `telemetryctl dlq replay` turns
/// back into seed tasks. The one definition of that line for both sides.
///
/// `{"device_id":"s1","metric":"temperature","timestamp":"2026-12-03T10:00:00.000000Z","value":21.5,"reason":"out_of_range"}`
/// (`value` is `null` for a value that is not finite). A sample of a tenant other than the default
/// one carries `"tenant":"acme"` too, so a replay files it under its tenant again.
public struct RejectedSample: Sendable, Equatable {
    /// The device id.
    public var deviceID: String
    /// The metric name.
    public var metric: String
    /// The sample time, in microseconds since the epoch.
    public var timestampMicros: Int64
    /// nil when the value was not finite (JSON has no NaN or infinity).
    public var value: Double?
    /// The reason code.
    public var reason: String
    /// The device's tenant; nil: the default tenant.
    public var tenant: String?

    /// A rejected sample; a `value` that is not finite is kept as nil.
    public init(deviceID: String, metric: String, timestampMicros: Int64, value: Double?, reason: String, tenant: String? = nil) {
        self.tenant = tenant
        self.deviceID = deviceID
        self.metric = metric
        self.timestampMicros = timestampMicros
        self.value = value.flatMap { $0.isFinite ? $0 : nil }
        self.reason = reason
    }

    /// The line, with its newline.
    public var line: String {
        "{\"device_id\":\(JSONText.quoted(deviceID)),\"metric\":\(JSONText.quoted(metric)),"
            + "\"timestamp\":\"\(Timestamp.formatRFC3339(micros: timestampMicros))\","
            + "\"value\":\(value.map { "\($0)" } ?? "null"),\"reason\":\(JSONText.quoted(reason))"
            + (tenant.map { ",\"tenant\":\(JSONText.quoted($0))" } ?? "") + "}\n"
    }

    /// The payload of `samples`: their lines, in order.
    public static func payload(_ samples: [RejectedSample]) -> [UInt8] {
        var out: [UInt8] = []
        for sample in samples { out += sample.line.utf8 }
        return out
    }

    /// Reads a payload of lines (blank lines skipped); throws naming the first line that is not a
    /// rejected sample.
    public static func parse(payload: [UInt8]) throws(TelemetryError) -> [RejectedSample] {
        var samples: [RejectedSample] = []
        for (index, line) in payload.split(separator: UInt8(ascii: "\n")).enumerated() {
            let value: JSONValue
            do { value = try JSONParser.parse(line) } catch {
                throw TelemetryError(.malformedJSON, "line \(index + 1) is not JSON: \(error)")
            }
            guard case .object(let object) = value, case .string(let device)? = object["device_id"],
                  case .string(let metric)? = object["metric"], case .string(let timestamp)? = object["timestamp"],
                  let micros = Timestamp.parseRFC3339(timestamp) else {
                throw TelemetryError(.missingField, "line \(index + 1) is not a rejected sample (device_id, metric, timestamp)")
            }
            var number: Double?
            if case .number(let n)? = object["value"] { number = n }
            var reason = ""
            if case .string(let r)? = object["reason"] { reason = r }
            var tenant: String?
            if case .string(let t)? = object["tenant"] { tenant = t }
            samples.append(RejectedSample(deviceID: device, metric: metric, timestampMicros: micros, value: number, reason: reason, tenant: tenant))
        }
        return samples
    }
}

/// JSON text helpers for the hand-written documents of the hot paths.
public enum JSONText {
    /// `s` as a JSON string literal: quotes, backslashes and control characters escaped.
    public static func quoted(_ s: String) -> String {
        guard s.utf8.contains(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") || $0 < 0x20 }) else { return "\"" + s + "\"" }
        var out = "\""
        for ch in s.unicodeScalars {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where ch.value < 0x20:
                let hex = String(ch.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(ch)
            }
        }
        return out + "\""
    }
}
