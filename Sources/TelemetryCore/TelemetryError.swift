/// A typed error of the telemetry domain, carrying one of the dead-letter reason codes.
///
/// Codes form a closed but extensible list (a struct over a private enum), so new codes can
/// be added without breaking callers that switch over the known ones.
public struct TelemetryError: Error, Sendable, CustomStringConvertible {
    /// The reason code, as written to the dead-letter stream.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        enum Base: String, Sendable, CaseIterable {
            case malformedJSON = "malformed_json"
            case invalidUTF8 = "invalid_utf8"
            case missingField = "missing_field"
            case invalidField = "invalid_field"
            case unknownType = "unknown_type"
            case nonFinite = "non_finite"
            case outOfRange = "out_of_range"
            case timestampFuture = "timestamp_future"
            case timestampTooOld = "timestamp_too_old"
            case tooLarge = "too_large"
            case unsupportedVersion = "unsupported_version"
            case retriesExhausted = "retries_exhausted"
            case malformedLine = "malformed_line"
            case poison = "poison"
            case duplicateID = "duplicate_id"
            case cardinalityLimit = "cardinality_limit"
        }
        let base: Base
        /// A body, line or task that is not JSON (or not the JSON shape expected).
        public static let malformedJSON = Code(base: .malformedJSON)
        /// Text that is not valid UTF-8.
        public static let invalidUTF8 = Code(base: .invalidUTF8)
        /// A required field is absent (`device_id`, `timestamp`, a stream entry's `d`, …).
        public static let missingField = Code(base: .missingField)
        /// A field of the wrong type or form: an empty id, control characters in a name, a bad timestamp text, a batch that does not decode.
        public static let invalidField = Code(base: .invalidField)
        /// A seed task whose `type` is not one of the task types.
        public static let unknownType = Code(base: .unknownType)
        /// A value that is NaN or infinite.
        public static let nonFinite = Code(base: .nonFinite)
        /// A value outside its metric's `validation.<metric>.min`/`max`, or refused by PostgreSQL as out of range.
        public static let outOfRange = Code(base: .outOfRange)
        /// A timestamp further in the future than `validation.max_future_skew_s`.
        public static let timestampFuture = Code(base: .timestampFuture)
        /// A timestamp older than the retention (`partitions.retention_days`).
        public static let timestampTooOld = Code(base: .timestampTooOld)
        /// An input over a size bound: a body, task or entry too long, or more than `validation.max_fields` numeric fields.
        public static let tooLarge = Code(base: .tooLarge)
        /// A hub batch in a format version this processor does not read.
        public static let unsupportedVersion = Code(base: .unsupportedVersion)
        /// A write that kept failing after `retry.max_retries` attempts.
        public static let retriesExhausted = Code(base: .retriesExhausted)
        /// A line from a device (UART line protocol) that does not parse.
        public static let malformedLine = Code(base: .malformedLine)
        /// An entry or task delivered more than `consumer.max_deliveries` times (it keeps failing
        /// or crashing its processor): quarantined instead of tried again.
        public static let poison = Code(base: .poison)
        /// A task or batch id already committed with different content.
        public static let duplicateID = Code(base: .duplicateID)
        /// A new metric name beyond `validation.max_metric_names`.
        public static let cardinalityLimit = Code(base: .cardinalityLimit)

        /// Every reason code, for metrics that pre-register one series per reason.
        public static var all: [Code] { Base.allCases.map(Code.init(base:)) }

        init(base: Base) { self.base = base }

        /// The code written as `text` (`malformed_line`), nil for a text that is no code.
        public init?(text: String) {
            guard let base = Base(rawValue: text) else { return nil }
            self.base = base
        }
        /// The wire name of the code, e.g. `malformed_json`.
        public var description: String { base.rawValue }
    }

    /// Why the input was refused.
    public let code: Code
    /// What exactly was wrong, for the dead letter and the 4xx body.
    public let message: String
    /// Where the error was raised (for logs).
    public let file: String
    /// The line of `file` where the error was raised.
    public let line: Int

    /// An error with `code` and `message`, located at the caller unless `file` and `line` are given.
    public init(_ code: Code, _ message: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
    }

    /// `<code>: <message>`, e.g. `non_finite: temperature is not finite`.
    public var description: String { "\(code): \(message)" }
}
