import Foundation
import TelemetryCore

/// Parsing of the read API's query parameters: each failure is a 400 naming the parameter.
enum QueryParameters {
    /// A required parameter that is missing or empty.
    static func missing(_ name: String) -> ReadFailure {
        ReadFailure(400, "missing_parameter", "\(name) is required")
    }

    /// A parameter whose value is not what it must be.
    static func bad(_ name: String, _ why: String) -> ReadFailure {
        ReadFailure(400, "bad_parameter", "\(name): \(why)")
    }

    /// An RFC 3339 time (`2026-12-03T10:00:00Z`, `…+02:00`), in µs since the epoch.
    static func time(_ name: String, _ value: String?) throws(ReadFailure) -> Int64? {
        guard let value else { return nil }
        guard let micros = Timestamp.parseRFC3339(value) else {
            throw bad(name, "\(PrintableName(value)) is not an RFC 3339 time such as 2026-12-03T10:00:00Z")
        }
        return micros
    }

    /// A duration: a whole number with a unit `s`, `m`, `h` or `d` (`10m`), or plain seconds; in µs.
    static func duration(_ name: String, _ value: String?) throws(ReadFailure) -> Int64? {
        guard let value else { return nil }
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        var digits = Substring(value)
        var scale: Int64 = 1
        if let last = value.last, let unit = units[last] {
            scale = unit
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), let number = Int64(digits), number >= 0,
              number <= 3650 * 86_400 / scale else {
            throw bad(name, "\(PrintableName(value)) is not a duration such as 30s, 10m, 2h or 7d (at most 3650 days)")
        }
        return number * scale * 1_000_000
    }

    /// A whole number in `range`, or `fallback` when absent.
    static func integer(_ name: String, _ value: String?, default fallback: Int, in range: ClosedRange<Int>) throws(ReadFailure) -> Int {
        guard let value else { return fallback }
        guard let number = Int(value), range.contains(number) else {
            throw bad(name, "\(PrintableName(value)) is not a whole number in \(range.lowerBound)…\(range.upperBound)")
        }
        return number
    }

    /// One of `choices`, or `fallback` when absent.
    static func choice(_ name: String, _ value: String?, _ choices: [String], default fallback: String?) throws(ReadFailure) -> String? {
        guard let value else { return fallback }
        guard choices.contains(value) else {
            throw bad(name, "\(PrintableName(value)) is not one of \(choices.joined(separator: ", "))")
        }
        return value
    }

    /// A device or metric name: 1 to 256 bytes, no control characters.
    static func name(_ parameter: String, _ value: String?) throws(ReadFailure) -> String {
        guard let value, !value.isEmpty else { throw missing(parameter) }
        guard value.utf8.count <= 256, !ValidationPolicy.containsControlCharacters(value) else {
            throw bad(parameter, "a name has 1 to 256 bytes and no control characters")
        }
        return value
    }
}

/// Hand-written JSON for data answers (fast, and numbers keep every digit).
struct JSONWriter {
    var text = ""

    init() { text.reserveCapacity(256) }

    mutating func raw(_ s: String) { text += s }
    mutating func string(_ s: String) { text += JSONText.quoted(s) }
    mutating func key(_ s: String) { text += JSONText.quoted(s) + ":" }
    mutating func number(_ value: Double) { text += value.isFinite ? "\(value)" : "null" }
    mutating func number(_ value: Int64) { text += String(value) }
    mutating func time(_ micros: Int64) { text += "\"" + Timestamp.formatRFC3339(micros: micros) + "\"" }
    mutating func optionalString(_ s: String?) { if let s { string(s) } else { text += "null" } }
}
