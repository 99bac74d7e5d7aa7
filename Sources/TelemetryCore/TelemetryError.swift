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
        public static let malformedJSON = Code(base: .malformedJSON)
        public static let invalidUTF8 = Code(base: .invalidUTF8)
        public static let missingField = Code(base: .missingField)
        public static let invalidField = Code(base: .invalidField)
        public static let unknownType = Code(base: .unknownType)
        public static let nonFinite = Code(base: .nonFinite)
        public static let outOfRange = Code(base: .outOfRange)
        public static let timestampFuture = Code(base: .timestampFuture)
        public static let timestampTooOld = Code(base: .timestampTooOld)
        public static let tooLarge = Code(base: .tooLarge)
        public static let unsupportedVersion = Code(base: .unsupportedVersion)
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
        /// The wire name of the code, e.g. `malformed_json`.
        public var description: String { base.rawValue }
    }

    public let code: Code
    public let message: String
    public let file: String
    public let line: Int

    public init(_ code: Code, _ message: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
    }

    public var description: String { "\(code): \(message)" }
}
