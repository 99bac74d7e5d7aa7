
/// The body of `POST /v1/samples`: NDJSON (one sample object per line) or a JSON array of sample
/// objects, each with the seed payload's fields (`device_id`, `timestamp` as RFC 3339 or integer
/// epoch milliseconds, numeric fields; strings such as `raw_data` are not metrics).
///
/// Every line is judged on its own: the good ones are kept, the bad ones are listed with their
/// 1-based line (for an array, the element's position) and a reason code. A body that cannot be
/// split into samples at all (an array that is not valid JSON) is one rejection at line 0.
///
/// ```swift
/// let document = SampleDocument.parse(Array(#"{"device_id":"d1","timestamp":1766745000123,"t":21.5}"#.utf8))
/// document.readings.count  // 1
/// ```
public struct SampleDocument: Sendable, Equatable {
    /// One refused line (or array element), or the body as a whole.
    public struct Rejection: Sendable, Equatable {
        /// 1-based line of NDJSON, or position in an array; 0 for the body as a whole.
        public var line: Int
        /// A dead-letter reason code (`malformed_json`, `invalid_utf8`, `missing_field`, …).
        public var reason: String
        /// What was wrong, for the client.
        public var message: String
    }

    /// Rejections kept with their line and message (the first ones; a body of millions of bad
    /// lines must not cost millions of messages). ``rejectedCount`` and ``rejectedByReason`` count all.
    public static let maxListedRejections = 1000

    /// The accepted readings, in body order.
    public var readings: [SampleReading] = []
    /// The line (or array position) of each reading.
    public var readingLines: [Int] = []
    /// The first ``maxListedRejections`` rejections, in the order they were found.
    public var rejected: [Rejection] = []
    /// Every rejection, listed or not.
    public var rejectedCount = 0
    /// Every rejection, counted per reason code.
    public var rejectedByReason: [String: Int] = [:]
    /// Metric values in ``readings`` (rows they become).
    public var values = 0
    private var maxFields = ValidationPolicy.defaultMaxFields

    /// A sample with more than `maxFields` numeric fields is rejected whole (`too_large`).
    public static func parse(_ body: [UInt8], maxFields: Int = ValidationPolicy.defaultMaxFields) -> SampleDocument {
        var document = SampleDocument()
        document.maxFields = maxFields
        let first = body.firstIndex { !Self.isSpace($0) }
        if let first, body[first] == UInt8(ascii: "[") {
            document.parseArray(body)
            document.rejectIfEmpty()
            return document
        }
        var line = 0
        var start = 0
        while start < body.count {
            line += 1
            let end = body[start...].firstIndex(of: UInt8(ascii: "\n")) ?? body.count
            var slice = body[start..<end]
            if slice.last == UInt8(ascii: "\r") { slice = slice.dropLast() }
            start = end + 1
            if slice.allSatisfy(Self.isSpace) { continue }
            document.take(line: line) { () throws(TelemetryError) in try Self.object(slice) }
        }
        document.rejectIfEmpty()
        return document
    }

    /// An empty document, filled by another format's parser (``append(_:line:)``, ``reject(line:reason:message:)``).
    public init() {}

    /// Accepts `reading`, from `line`.
    public mutating func append(_ reading: SampleReading, line: Int) {
        values += reading.metrics.count
        readings.append(reading)
        readingLines.append(line)
    }

    /// Refuses `line` with a dead-letter `reason` code and a message for the client.
    public mutating func reject(line: Int, reason: String, message: String) {
        reject(Rejection(line: line, reason: reason, message: message))
    }

    /// A body without a single sample (empty, blank lines, `[]`) is an error of its own.
    private mutating func rejectIfEmpty() {
        if readings.isEmpty && rejectedCount == 0 {
            reject(Rejection(line: 0, reason: "missing_field", message: "the body holds no samples"))
        }
    }

    private mutating func parseArray(_ body: [UInt8]) {
        let elements: [JSONValue]
        do {
            guard case .array(let array) = try JSONParser.parse(body) else { throw TelemetryError(.malformedJSON, "") }
            elements = array
        } catch {
            // Invalid UTF-8 never parses, so it is looked for only when parsing failed.
            if !JSONParser.isValidUTF8(body) {
                reject(Rejection(line: 0, reason: "invalid_utf8", message: "the body is not valid UTF-8"))
            } else {
                reject(Rejection(line: 0, reason: "malformed_json", message: "the body is not a JSON array of sample objects"))
            }
            return
        }
        for (index, element) in elements.enumerated() {
            take(line: index + 1) { () throws(TelemetryError) in
                guard case .object(let object) = element else {
                    throw TelemetryError(.malformedJSON, "a sample must be a JSON object, got \(element.typeName)")
                }
                return object
            }
        }
    }

    private mutating func take(line: Int, _ object: () throws(TelemetryError) -> [String: JSONValue]) {
        do {
            append(try TelemetryTaskCodec.reading(try object(), path: "", maxFields: maxFields), line: line)
        } catch {
            reject(Rejection(line: line, reason: error.code.description, message: error.message))
        }
    }

    /// Every metric name of the readings, once.
    public var metricNames: Set<String> { Set(readings.lazy.flatMap { $0.metrics.map(\.name) }) }

    /// Moves the readings naming any of `names` to the rejections with `reason`: a reading is
    /// accepted or refused whole, as its line is.
    public mutating func reject(readingsNaming names: Set<String>, reason: TelemetryError.Code, message: (String) -> String) {
        guard !names.isEmpty else { return }
        var keptReadings: [SampleReading] = []
        var keptLines: [Int] = []
        for (reading, line) in zip(readings, readingLines) {
            if let name = reading.metrics.first(where: { names.contains($0.name) })?.name {
                values -= reading.metrics.count
                reject(Rejection(line: line, reason: reason.description, message: message(name)))
            } else {
                keptReadings.append(reading)
                keptLines.append(line)
            }
        }
        readings = keptReadings
        readingLines = keptLines
    }

    private mutating func reject(_ rejection: Rejection) {
        rejectedCount += 1
        rejectedByReason[rejection.reason, default: 0] += 1
        if rejected.count < Self.maxListedRejections { rejected.append(rejection) }
    }

    private static func object(_ line: ArraySlice<UInt8>) throws(TelemetryError) -> [String: JSONValue] {
        let value: JSONValue
        do {
            value = try JSONParser.parse(line)
        } catch {
            // Invalid UTF-8 never parses, so it is looked for only when parsing failed.
            guard JSONParser.isValidUTF8(line) else { throw TelemetryError(.invalidUTF8, "the line is not valid UTF-8") }
            throw TelemetryError(.malformedJSON, "the line is not valid JSON")
        }
        guard case .object(let object) = value else { throw TelemetryError(.malformedJSON, "a sample must be a JSON object, got \(value.typeName)") }
        return object
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }
}
