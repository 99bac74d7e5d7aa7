/// One dead letter (`telemetry:dlq`, Docs/architecture.md): what the processor and the hub write when an
/// input is refused, and what `telemetryctl dlq` lists, shows and replays. The one definition of
/// its fields for every side.
public struct DeadLetter: Sendable, Equatable {
    /// Largest payload kept (1 MiB): a flood of huge inputs cannot exhaust Redis. A longer one is
    /// cut, and its full size kept in `payload_truncated_from`.
    public static let maxPayloadBytes = 1 << 20

    /// The field names, in the order they are written.
    public enum Field: String, CaseIterable, Sendable {
        case reason, message, attempts
        case firstFailureMillis = "first_failure_ms"
        case lastFailureMillis = "last_failure_ms"
        case source
        case sourceID = "source_id"
        case payload
        case payloadTruncatedFrom = "payload_truncated_from"
    }

    /// A reason code (``TelemetryError/Code``'s description).
    public var reason: String
    /// What exactly was wrong (``TelemetryError/message``).
    public var message: String
    /// Attempts made before the input was given up (1 when it was refused outright).
    public var attempts: Int
    /// When the first attempt failed, in milliseconds since the epoch.
    public var firstFailureMillis: Int64
    /// When the last attempt failed, in milliseconds since the epoch.
    public var lastFailureMillis: Int64
    /// `stream:<shard>`, `compat`, `http` or `bus:<name>`.
    public var source: String
    /// The input's id at its source (task id, stream entry id, …); empty when unknown.
    public var sourceID: String
    /// The input as received (up to ``maxPayloadBytes``), or rejected-sample lines (``RejectedSample``).
    public var payload: [UInt8]
    /// The payload's size before it was cut; nil when kept whole.
    public var payloadTruncatedFrom: Int?

    /// A dead letter of the given fields, `payload` kept as is (not cut).
    public init(reason: String, message: String, attempts: Int, firstFailureMillis: Int64, lastFailureMillis: Int64,
                source: String, sourceID: String, payload: [UInt8], payloadTruncatedFrom: Int? = nil) {
        self.reason = reason
        self.message = message
        self.attempts = attempts
        self.firstFailureMillis = firstFailureMillis
        self.lastFailureMillis = lastFailureMillis
        self.source = source
        self.sourceID = sourceID
        self.payload = payload
        self.payloadTruncatedFrom = payloadTruncatedFrom
    }

    /// A dead letter of `error`, with `payload` cut to ``maxPayloadBytes``.
    public init(error: TelemetryError, attempts: Int, firstFailureMillis: Int64, lastFailureMillis: Int64, source: String,
                sourceID: String, payload: [UInt8]) {
        let cut = payload.count > Self.maxPayloadBytes
        self.init(reason: error.code.description, message: error.message, attempts: attempts, firstFailureMillis: firstFailureMillis,
                  lastFailureMillis: lastFailureMillis, source: source, sourceID: sourceID,
                  payload: cut ? Array(payload.prefix(Self.maxPayloadBytes)) : payload, payloadTruncatedFrom: cut ? payload.count : nil)
    }

    /// Reads a dead letter's fields by name; a missing text is empty, a missing number 0.
    public init(fields: [String: [UInt8]]) {
        func text(_ field: Field) -> String { fields[field.rawValue].map { String(decoding: $0, as: UTF8.self) } ?? "" }
        self.init(reason: text(.reason), message: text(.message), attempts: Int(text(.attempts)) ?? 0,
                  firstFailureMillis: Int64(text(.firstFailureMillis)) ?? 0, lastFailureMillis: Int64(text(.lastFailureMillis)) ?? 0,
                  source: text(.source), sourceID: text(.sourceID), payload: fields[Field.payload.rawValue] ?? [],
                  payloadTruncatedFrom: Int(text(.payloadTruncatedFrom)))
    }

    /// The field list to write after `XADD key … *`.
    public var fields: [(name: String, value: [UInt8])] {
        var fields: [(name: String, value: [UInt8])] = [
            (Field.reason.rawValue, Array(reason.utf8)), (Field.message.rawValue, Array(message.utf8)),
            (Field.attempts.rawValue, Array(String(attempts).utf8)),
            (Field.firstFailureMillis.rawValue, Array(String(firstFailureMillis).utf8)),
            (Field.lastFailureMillis.rawValue, Array(String(lastFailureMillis).utf8)),
            (Field.source.rawValue, Array(source.utf8)), (Field.sourceID.rawValue, Array(sourceID.utf8)),
            (Field.payload.rawValue, payload),
        ]
        if let payloadTruncatedFrom { fields.append((Field.payloadTruncatedFrom.rawValue, Array(String(payloadTruncatedFrom).utf8))) }
        return fields
    }
}
