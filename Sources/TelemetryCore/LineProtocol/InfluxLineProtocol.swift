/// InfluxDB line protocol (the 1.x and 2.x `/write` body), parsed from bytes:
///
///     measurement[,tag=value…] field=value[,field=value…] [timestamp]
///
/// Escapes: in the measurement `\,` and `\ `; in tag keys, tag values and field keys also `\=`;
/// in string field values `\"` and `\\`. Any other backslash is a literal backslash. Field values
/// are floats (`1`, `-1.5e3`), integers (`1i`), unsigned integers (`1u`), booleans (`t`, `T`,
/// `true`, `True`, `TRUE` and the same for false) or double-quoted strings. Lines that are empty
/// or start with `#` (after leading whitespace) are skipped.
///
/// ```swift
/// let point = try InfluxLineProtocol.parse(Array("env,device_id=s1 temperature=21.5 1700000000000000000".utf8)[...])
/// ```
public enum InfluxLineProtocol {
    /// A field's value.
    public enum FieldValue: Sendable, Equatable {
        /// A float (the default for a bare number).
        case float(Double)
        /// `…i`.
        case integer(Int64)
        /// `…u`.
        case unsigned(UInt64)
        /// A double-quoted string, unescaped.
        case string(String)
        /// `t`/`true`/… or `f`/`false`/….
        case boolean(Bool)
    }

    /// One parsed line.
    public struct Point: Sendable, Equatable {
        /// The measurement, unescaped.
        public var measurement: String
        /// Tags in line order, unescaped.
        public var tags: [(key: String, value: String)]
        /// Fields in line order, unescaped; a key given twice keeps its last value.
        public var fields: [(key: String, value: FieldValue)]
        /// The timestamp as written (in the request's precision); nil when absent.
        public var timestamp: Int64?

        /// A point.
        public init(measurement: String, tags: [(key: String, value: String)], fields: [(key: String, value: FieldValue)], timestamp: Int64?) {
            self.measurement = measurement
            self.tags = tags
            self.fields = fields
            self.timestamp = timestamp
        }

        /// Equal measurement, tags, fields (in order) and timestamp.
        public static func == (a: Point, b: Point) -> Bool {
            a.measurement == b.measurement && a.timestamp == b.timestamp
                && a.tags.map(\.key) == b.tags.map(\.key) && a.tags.map(\.value) == b.tags.map(\.value)
                && a.fields.map(\.key) == b.fields.map(\.key) && a.fields.map(\.value) == b.fields.map(\.value)
        }
    }

    /// Why a line was refused, in InfluxDB's words where it has them.
    public struct LineError: Error, Sendable, Equatable, CustomStringConvertible {
        /// `missing fields`, `invalid number`, `unbalanced quotes`, ….
        public let reason: String
        /// The reason.
        public var description: String { reason }
        /// An error with `reason`.
        public init(_ reason: String) { self.reason = reason }
    }

    /// The end of the line that starts at `start` in `body` (the index of its `\n`, or the end),
    /// found as InfluxDB finds it: a backslash skips the byte after it, and in the field section
    /// a newline inside a quoted string value does not end the line (so an unbalanced quote takes
    /// the rest of the body into one refused line, as InfluxDB refuses it).
    public static func lineEnd(in body: [UInt8], from start: Int) -> Int {
        var i = start
        var quoted = false
        var inFields = false
        var equals = 0
        var commas = 0
        while i < body.count {
            let byte = body[i]
            if byte == .backslash && i + 2 < body.count {
                i += 2
                continue
            }
            if byte == .space { inFields = true }
            if inFields {
                if !quoted && byte == .equals {
                    equals += 1
                    i += 1
                    continue
                } else if !quoted && byte == .comma {
                    commas += 1
                    i += 1
                    continue
                } else if byte == .quote && equals > commas {
                    quoted.toggle()
                    i += 1
                    continue
                }
            }
            if byte == .newline && !quoted { break }
            i += 1
        }
        return i
    }

    /// Parses one line (without its newline). nil for a blank or comment line.
    public static func parse(_ line: ArraySlice<UInt8>) throws(LineError) -> Point? {
        var cursor = Cursor(bytes: line)
        cursor.skip { $0 == .space || $0 == .tab || $0 == 0 }
        guard let first = cursor.peek else { return nil }
        if first == .hash { return nil }
        let measurement = cursor.token(stops: [.comma, .space], escapable: [.comma, .space])
        guard !measurement.isEmpty else { throw LineError("missing measurement") }
        var tags: [(key: String, value: String)] = []
        var tagKeys = Set<String>()
        while cursor.peek == .comma {
            cursor.advance()
            let key = cursor.token(stops: [.comma, .space, .equals], escapable: [.comma, .space, .equals])
            guard !key.isEmpty else { throw LineError("missing tag key") }
            guard cursor.peek == .equals else { throw LineError("missing tag value") }
            cursor.advance()
            let value = cursor.token(stops: [.comma, .space, .equals], escapable: [.comma, .space, .equals])
            guard !value.isEmpty else { throw LineError("missing tag value") }
            guard cursor.peek != .equals else { throw LineError("invalid tag format") }
            let name = String(decoding: key, as: UTF8.self)
            guard tagKeys.insert(name).inserted else { throw LineError("duplicate tags") }
            tags.append((name, String(decoding: value, as: UTF8.self)))
        }
        guard cursor.peek == .space else { throw LineError("missing fields") }
        cursor.skip { $0 == .space }
        guard cursor.peek != nil else { throw LineError("missing fields") }
        var fields: [(key: String, value: FieldValue)] = []
        var fieldIndex: [String: Int] = [:]
        while true {
            let key = cursor.token(stops: [.comma, .space, .equals], escapable: [.comma, .space, .equals])
            guard !key.isEmpty else { throw LineError("missing field key") }
            guard cursor.peek == .equals else { throw LineError("missing field value") }
            cursor.advance()
            let value = try fieldValue(&cursor)
            let name = String(decoding: key, as: UTF8.self)
            if let index = fieldIndex[name] {
                fields[index].value = value  // the last value wins
            } else {
                fieldIndex[name] = fields.count
                fields.append((name, value))
            }
            if cursor.peek == .comma {
                cursor.advance()
                continue
            }
            break
        }
        var timestamp: Int64?
        if cursor.peek == .space {
            cursor.skip { $0 == .space }
            if cursor.peek != nil {
                let text = cursor.token(stops: [.space], escapable: [])
                guard let value = integer(text[...]) else { throw LineError("bad timestamp") }
                // InfluxDB's range, in nanoseconds (checked in the request's precision by the caller).
                guard value >= Int64.min + 2, value <= Int64.max - 1 else { throw LineError("time outside range") }
                timestamp = value
                cursor.skip { $0 == .space || $0 == .tab }
                guard cursor.peek == nil else { throw LineError("bad timestamp") }
            }
        } else if cursor.peek == .carriageReturn {
            cursor.advance()
        }
        guard cursor.peek == nil else { throw LineError("invalid field format") }
        return Point(measurement: String(decoding: measurement, as: UTF8.self), tags: tags, fields: fields, timestamp: timestamp)
    }

    static func fieldValue(_ cursor: inout Cursor) throws(LineError) -> FieldValue {
        if cursor.peek == .quote {
            // As InfluxDB scans it: to the closing quote, then on to the next comma or space; the
            // value is that token without its first and last byte (so `"a"b` is `a"`), unescaped.
            let start = cursor.index
            cursor.advance()
            var closed = false
            while let byte = cursor.peek {
                cursor.advance()
                if byte == .backslash, let next = cursor.peek, next == .quote || next == .backslash {
                    cursor.advance()
                } else if byte == .quote {
                    closed = true
                    break
                }
            }
            guard closed else { throw LineError("unbalanced quotes") }
            while let byte = cursor.peek, byte != .comma, byte != .space, !(byte == .carriageReturn && cursor.index + 1 == cursor.bytes.endIndex) {
                cursor.advance()
            }
            let raw = cursor.bytes[(start + 1)..<(cursor.index - 1)]
            var bytes: [UInt8] = []
            var i = raw.startIndex
            while i < raw.endIndex {
                if raw[i] == .backslash, i + 1 < raw.endIndex, raw[i + 1] == .quote || raw[i + 1] == .backslash {
                    bytes.append(raw[i + 1])
                    i += 2
                } else {
                    bytes.append(raw[i])
                    i += 1
                }
            }
            return .string(String(decoding: bytes, as: UTF8.self))
        }
        let token = cursor.token(stops: [.comma, .space], escapable: [])
        guard let last = token.last else { throw LineError("missing field value") }
        switch token {
        case Array("t".utf8), Array("T".utf8), Array("true".utf8), Array("True".utf8), Array("TRUE".utf8): return .boolean(true)
        case Array("f".utf8), Array("F".utf8), Array("false".utf8), Array("False".utf8), Array("FALSE".utf8): return .boolean(false)
        default: break
        }
        if last == UInt8(ascii: "i") {
            guard let value = integer(token.dropLast()) else {
                throw LineError(isInteger(token.dropLast()) ? "value out of range" : "invalid number")
            }
            return .integer(value)
        }
        if last == UInt8(ascii: "u") {
            let digits = token.dropLast()
            guard !digits.isEmpty, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { throw LineError("invalid number") }
            guard let value = UInt64(String(decoding: digits, as: UTF8.self)) else { throw LineError("value out of range") }
            return .unsigned(value)
        }
        guard let value = float(token[...]) else { throw LineError("invalid number") }
        return .float(value)
    }

    /// A decimal Int64 with an optional leading `-`.
    static func integer(_ text: ArraySlice<UInt8>) -> Int64? {
        guard isInteger(text) else { return nil }
        return Int64(String(decoding: text, as: UTF8.self))
    }

    static func isInteger(_ text: ArraySlice<UInt8>) -> Bool {
        let digits = text.first == .minus ? text.dropFirst() : text
        return !digits.isEmpty && digits.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }

    /// A finite decimal float: digits, one `.`, an exponent; no `inf`, `nan` or hex.
    static func float(_ text: ArraySlice<UInt8>) -> Double? {
        var digits = 0
        var dots = 0
        var exponent = false
        var previous: UInt8 = 0
        for (offset, byte) in text.enumerated() {
            switch byte {
            case 0x30...0x39: digits += 1
            case .dot:
                dots += 1
                guard dots == 1, !exponent else { return nil }
            case UInt8(ascii: "e"), UInt8(ascii: "E"):
                guard !exponent, digits > 0 else { return nil }
                exponent = true
            case .minus:
                guard offset == 0 || previous == UInt8(ascii: "e") || previous == UInt8(ascii: "E") else { return nil }
            case .plus:
                guard previous == UInt8(ascii: "e") || previous == UInt8(ascii: "E") else { return nil }
            default: return nil
            }
            previous = byte
        }
        guard digits > 0, let value = Double(String(decoding: text, as: UTF8.self)), value.isFinite else { return nil }
        return value
    }

    /// The request's `precision` as nanoseconds per unit (nil: unknown). 1.x (`v1`) also names
    /// `n`, `u`, `m`, `h`; both `ns`, `us`, `ms`, `s`; none (or empty) is nanoseconds.
    public static func nanosPerUnit(precision: String, v1: Bool = true) -> Int64? {
        switch precision {
        case "", "ns": 1
        case "us": 1000
        case "ms": 1_000_000
        case "s": 1_000_000_000
        case "n" where v1: 1
        case "u" where v1, "µ" where v1: 1000
        case "m" where v1: 60_000_000_000
        case "h" where v1: 3_600_000_000_000
        default: nil
        }
    }

    /// A timestamp in `nanosPerUnit` as microseconds since the epoch (floored), or nil when it
    /// is outside InfluxDB's range (`Int64.min + 2 … Int64.max - 1` nanoseconds).
    public static func micros(timestamp: Int64, nanosPerUnit: Int64) -> Int64? {
        let (nanos, overflow) = timestamp.multipliedReportingOverflow(by: nanosPerUnit)
        guard !overflow, nanos >= Int64.min + 2, nanos <= Int64.max - 1 else { return nil }
        return Timestamp.floorDivision(nanos, 1000).quotient
    }
}

/// A position in a line's bytes.
struct Cursor {
    let bytes: ArraySlice<UInt8>
    var index: Int

    init(bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        index = bytes.startIndex
    }

    var peek: UInt8? { index < bytes.endIndex ? bytes[index] : nil }
    mutating func advance() { index += 1 }
    mutating func skip(_ predicate: (UInt8) -> Bool) { while let byte = peek, predicate(byte) { index += 1 } }

    /// Bytes up to an unescaped stop byte (or the end), with `\x` for an escapable `x` unescaped;
    /// any other backslash stays.
    mutating func token(stops: [UInt8], escapable: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        while let byte = peek {
            if byte == .backslash, index + 1 < bytes.endIndex, escapable.contains(bytes[index + 1]) {
                out.append(bytes[index + 1])
                index += 2
                continue
            }
            if stops.contains(byte) { break }
            out.append(byte)
            index += 1
        }
        return out
    }
}

extension UInt8 {
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
    static let comma = UInt8(ascii: ",")
    static let equals = UInt8(ascii: "=")
    static let quote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")
    static let hash = UInt8(ascii: "#")
    static let dot = UInt8(ascii: ".")
    static let minus = UInt8(ascii: "-")
    static let plus = UInt8(ascii: "+")
    static let carriageReturn = UInt8(ascii: "\r")
    static let newline = UInt8(ascii: "\n")
}
