public import TelemetryCore

/// One reading printed by a sensor in the InfluxDB line-protocol style:
/// `sensor_001,site=lab temperature=23.5,humidity=65.2 1766745000123`.
///
/// The measurement is the device id; tags are accepted and ignored; every numeric field is a
/// sample (`12i` and `12u` integers and `t`/`f` booleans as 1 and 0 included); string fields are
/// not samples and are skipped; the optional timestamp is an integer in the configured precision.
public struct LineReading: Sendable, Equatable {
    /// The device id: the measurement, unescaped (at most 128 bytes, no control characters).
    public var device: String
    /// The numeric fields in line order, as samples (a name appears once).
    public var fields: [MetricValue]
    /// Microseconds since the epoch, or nil when the line has none (the receive time is used).
    public var timestampMicros: Int64?
}

/// Units of a line's timestamp.
public enum TimestampPrecision: String, Sendable, CaseIterable {
    /// `s`, `ms`, `us` and `ns`: the values of `timestamp_precision`.
    case seconds = "s", milliseconds = "ms", microseconds = "us", nanoseconds = "ns"

    func micros(_ value: Int64) -> Int64? {
        switch self {
        case .seconds: value.multipliedReportingOverflow(by: 1_000_000).overflow ? nil : value * 1_000_000
        case .milliseconds: value.multipliedReportingOverflow(by: 1000).overflow ? nil : value * 1000
        case .microseconds: value
        case .nanoseconds: value / 1000
        }
    }
}

/// Parser of one line (without its newline). Every failure is a ``TelemetryError`` whose code is
/// the dead-letter reason: `malformed_line` for syntax, `missing_field`, `invalid_field`,
/// `non_finite`, `invalid_utf8`.
///
/// ```swift
/// let reading = try LineProtocol.parse(Array("sensor_1 temperature=23.5 1766745000123".utf8))
/// ```
public enum LineProtocol {
    /// Longest accepted metric name, in bytes.
    public static let maxMetricBytes = 64

    /// Nil for a blank line or a `#` comment. More than `maxFields` numeric fields refuse the line
    /// as `too_large`; a control character in the device id or a field name as `invalid_field`.
    public static func parse(_ line: ArraySlice<UInt8>, precision: TimestampPrecision = .milliseconds,
                             maxFields: Int = ValidationPolicy.defaultMaxFields) throws(TelemetryError) -> LineReading? {
        var scanner = Scanner(bytes: line)
        scanner.skipSpaces()
        if scanner.atEnd || scanner.peek == UInt8(ascii: "#") { return nil }

        let device = try scanner.name(until: [UInt8(ascii: ","), UInt8(ascii: " "), UInt8(ascii: "=")], what: "device id")
        if scanner.peek == UInt8(ascii: "=") { throw TelemetryError(.malformedLine, "the line starts with a field, not a device id") }
        guard !device.isEmpty else { throw TelemetryError(.missingField, "the line starts without a device id") }
        guard device.utf8.count <= TelemetryTaskCodec.maxDeviceIDBytes else {
            throw TelemetryError(.invalidField, "device id is longer than \(TelemetryTaskCodec.maxDeviceIDBytes) bytes")
        }
        guard !ValidationPolicy.containsControlCharacters(device) else {
            throw TelemetryError(.invalidField, "device id \(PrintableName(device)) contains control characters")
        }
        while scanner.peek == UInt8(ascii: ",") {  // tags: accepted, not used
            scanner.advance()
            let key = try scanner.name(until: [UInt8(ascii: "="), UInt8(ascii: ","), UInt8(ascii: " ")], what: "tag key")
            guard scanner.peek == UInt8(ascii: "="), !key.isEmpty else { throw TelemetryError(.malformedLine, "tag \"\(key)\" has no value") }
            scanner.advance()
            _ = try scanner.name(until: [UInt8(ascii: ","), UInt8(ascii: " ")], what: "tag value")
        }
        guard scanner.skipSpaces() > 0, !scanner.atEnd else {
            throw TelemetryError(.missingField, "device \(device) has no fields")
        }

        // Fields, separated by commas (line protocol) or spaces (as many sensors print them),
        // then optionally the timestamp: the one word without "=".
        var fields: [MetricValue] = []
        var sawString = false
        var timestamp: Int64?
        while !scanner.atEnd {
            if !scanner.wordHasEquals() {
                let raw = scanner.token()
                guard let value = Int64(decimal: raw) else {
                    let text = String(decoding: raw, as: UTF8.self)
                    let digits = raw.drop { $0 == UInt8(ascii: "-") }
                    throw !digits.isEmpty && digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 })
                        ? TelemetryError(.invalidField, "timestamp \(text) is out of range")
                        : TelemetryError(.malformedLine, "\"\(text)\" is neither a field (name=value) nor a timestamp")
                }
                guard let micros = precision.micros(value) else { throw TelemetryError(.invalidField, "timestamp \(value) is out of range") }
                timestamp = micros
                scanner.skipSpaces()
                guard scanner.atEnd else { throw TelemetryError(.malformedLine, "unexpected text after the timestamp") }
                break
            }
            repeat {
                if scanner.peek == UInt8(ascii: ",") { scanner.advance() }
                let key = try scanner.name(until: [UInt8(ascii: "="), UInt8(ascii: ","), UInt8(ascii: " ")], what: "field name")
                guard scanner.peek == UInt8(ascii: "=") else { throw TelemetryError(.malformedLine, "field \"\(key)\" has no \"=value\"") }
                guard !key.isEmpty else { throw TelemetryError(.malformedLine, "a field has no name") }
                guard key.utf8.count <= maxMetricBytes else { throw TelemetryError(.invalidField, "field name is longer than \(maxMetricBytes) bytes") }
                guard !ValidationPolicy.containsControlCharacters(key) else {
                    throw TelemetryError(.invalidField, "field name \(PrintableName(key)) contains control characters")
                }
                scanner.advance()
                if scanner.peek == UInt8(ascii: "\"") {
                    try scanner.skipString(field: key)
                    sawString = true
                } else {
                    let value = try fieldValue(scanner.token(), field: key)
                    if fields.contains(where: { $0.name == key }) { throw TelemetryError(.invalidField, "field \(key) appears twice") }
                    guard fields.count < maxFields else {
                        throw TelemetryError(.tooLarge, "the line has more than \(maxFields) numeric fields (validation.max_fields)")
                    }
                    fields.append(MetricValue(name: key, value: value))
                }
            } while scanner.peek == UInt8(ascii: ",")
            guard scanner.atEnd || scanner.skipSpaces() > 0 else {
                throw TelemetryError(.malformedLine, "unexpected text after a field")
            }
        }
        if fields.isEmpty {
            throw TelemetryError(.missingField, sawString ? "device \(device) has only string fields" : "device \(device) has no fields")
        }
        return LineReading(device: device, fields: fields, timestampMicros: timestamp)
    }

    static func fieldValue(_ raw: ArraySlice<UInt8>, field: String) throws(TelemetryError) -> Double {
        let text = String(decoding: raw, as: UTF8.self)
        switch text {
        case "t", "T", "true", "True", "TRUE": return 1
        case "f", "F", "false", "False", "FALSE": return 0
        default: break
        }
        if let last = raw.last, last == UInt8(ascii: "i") || last == UInt8(ascii: "u"), let value = Int64(decimal: raw.dropLast()) {
            if last == UInt8(ascii: "u") && value < 0 { throw TelemetryError(.invalidField, "\(field)=\(text): an unsigned value is negative") }
            return Double(value)
        }
        // Plain decimal or exponent notation only: Swift's Double(_:) also reads "nan", "inf"
        // and hexadecimal floats, which the format does not allow.
        guard raw.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-")
                                || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }),
              let value = Double(text)
        else {
            let lowered = text.lowercased()
            if ["nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"].contains(lowered) {
                throw TelemetryError(.nonFinite, "\(field)=\(text) is not finite")
            }
            throw TelemetryError(.invalidField, "\(field)=\(text) is not a number")
        }
        guard value.isFinite else { throw TelemetryError(.nonFinite, "\(field)=\(text) is not finite") }
        return value
    }

    /// A cursor over one line with the format's backslash escapes.
    struct Scanner {
        let bytes: ArraySlice<UInt8>
        var index: Int

        init(bytes: ArraySlice<UInt8>) {
            self.bytes = bytes
            index = bytes.startIndex
        }

        var atEnd: Bool { index >= bytes.endIndex }
        var peek: UInt8? { atEnd ? nil : bytes[index] }
        mutating func advance() { index += 1 }

        @discardableResult
        mutating func skipSpaces() -> Int {
            let start = index
            while let byte = peek, byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") { advance() }
            return index - start
        }

        /// Bytes up to an unescaped stop byte (or the end), unescaped, as UTF-8.
        mutating func name(until stops: [UInt8], what: String) throws(TelemetryError) -> String {
            var out: [UInt8] = []
            while let byte = peek, !stops.contains(byte) {
                if byte == UInt8(ascii: "\\"), index + 1 < bytes.endIndex {
                    let next = bytes[index + 1]
                    if next == UInt8(ascii: ",") || next == UInt8(ascii: " ") || next == UInt8(ascii: "=") || next == UInt8(ascii: "\\") {
                        out.append(next)
                        index += 2
                        continue
                    }
                }
                if byte == UInt8(ascii: "\t") { break }
                out.append(byte)
                advance()
            }
            guard let text = String(validating: out, as: UTF8.self) else {
                throw TelemetryError(.invalidUTF8, "the \(what) is not valid UTF-8")
            }
            return text
        }

        /// Whether the word ahead (up to the next unescaped space) has an "=" outside quotes.
        func wordHasEquals() -> Bool {
            var i = index
            var quoted = false
            while i < bytes.endIndex {
                let byte = bytes[i]
                if byte == UInt8(ascii: "\\") { i += 2; continue }
                if byte == UInt8(ascii: "\"") { quoted.toggle() }
                if !quoted && (byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")) { return false }
                if !quoted && byte == UInt8(ascii: "=") { return true }
                i += 1
            }
            return false
        }

        /// Bytes up to the next space or comma.
        mutating func token() -> ArraySlice<UInt8> {
            let start = index
            while let byte = peek, byte != UInt8(ascii: " "), byte != UInt8(ascii: ","), byte != UInt8(ascii: "\t") { advance() }
            return bytes[start..<index]
        }

        /// Skips a double-quoted string field value with `\"` and `\\` escapes.
        mutating func skipString(field: String) throws(TelemetryError) {
            advance()
            while let byte = peek {
                advance()
                if byte == UInt8(ascii: "\\") { advance(); continue }
                if byte == UInt8(ascii: "\"") { return }
            }
            throw TelemetryError(.malformedLine, "the string value of \(field) has no closing quote")
        }
    }
}

extension Int64 {
    /// An optionally signed decimal integer, nothing else (no spaces, no "+" alone).
    init?(decimal bytes: ArraySlice<UInt8>) {
        guard !bytes.isEmpty, let value = Int64(String(decoding: bytes, as: UTF8.self)) else { return nil }
        self = value
    }
}

/// Splits a byte stream into lines: `\n` ends a line, a trailing `\r` is removed, and a line longer
/// than `maxLineBytes` is cut off and reported (its first bytes kept for the dead letter) while the
/// rest of it, up to the next newline, is skipped.
public struct LineFramer: Sendable {
    /// What ``feed(_:emit:)`` emits: a complete line or the head of one over the limit.
    public enum Output: Equatable, Sendable {
        /// A complete line, without its `\n` and a trailing `\r`.
        case line(ArraySlice<UInt8>)
        /// A line over the limit: its first `maxLineBytes` bytes.
        case tooLong(ArraySlice<UInt8>)
    }

    /// The longest line passed on whole, in bytes (a trailing `\r` counts).
    public let maxLineBytes: Int
    private var pending: [UInt8] = []
    private var discarding = false

    /// A framer that passes on lines of at most `maxLineBytes` bytes.
    public init(maxLineBytes: Int) {
        self.maxLineBytes = maxLineBytes
    }

    /// Bytes of an unfinished line.
    public var partial: [UInt8] { discarding ? [] : pending }

    /// Feeds received bytes; calls `emit` for each complete line.
    public mutating func feed(_ bytes: some Collection<UInt8>, emit: (Output) -> Void) {
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                if discarding {
                    discarding = false
                } else {
                    if pending.last == UInt8(ascii: "\r") { pending.removeLast() }
                    emit(.line(pending[...]))
                }
                pending.removeAll(keepingCapacity: true)
                continue
            }
            if discarding { continue }
            if pending.count == maxLineBytes {
                emit(.tooLong(pending[...]))
                pending.removeAll(keepingCapacity: true)
                discarding = true
                continue
            }
            pending.append(byte)
        }
    }

    /// Forgets an unfinished line (the device went away); returns its bytes.
    public mutating func reset() -> [UInt8] {
        defer {
            pending.removeAll(keepingCapacity: true)
            discarding = false
        }
        return partial
    }
}
