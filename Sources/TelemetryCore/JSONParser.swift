/// A strict RFC 8259 parser of UTF-8 bytes into ``JSONValue``, without `Codable`.
///
/// It accepts what Foundation's `JSONDecoder` accepts for a ``JSONValue`` (the tests compare the
/// two on a corpus) except a trailing comma in an array or object, which RFC 8259 forbids and
/// `JSONDecoder` lets through; and it is several times faster: it walks the bytes once, builds
/// each value directly, and allocates only the strings, arrays and dictionaries it returns. Numbers must
/// fit a `Double` (`1e400` is an error, as in `JSONDecoder`); a lone surrogate in a `\u` escape is
/// an error; of duplicate keys the last one wins; a leading byte-order mark is skipped. Nesting is
/// limited to ``maxDepth`` (64; `JSONDecoder` allows 512).
///
/// ```swift
/// let value = try JSONParser.parse(Array(#"{"device_id":"d1","t":21.5}"#.utf8))
/// ```
public enum JSONParser {
    /// Arrays and objects nested deeper than this are an error: a guard against stack exhaustion
    /// (a level takes about 2 KiB of stack in a debug build), far above what a sample or a task
    /// needs (3). `JSONDecoder` allows 512.
    public static let maxDepth = 64

    /// Why and where a text is not valid JSON.
    public struct Error: Swift.Error, Sendable, Equatable, CustomStringConvertible {
        /// Byte offset where parsing stopped.
        public var offset: Int
        /// What was wrong, e.g. `unexpected end of data`.
        public var reason: String
        /// `<reason> at byte <offset>`.
        public var description: String { "\(reason) at byte \(offset)" }
    }

    /// Whether `bytes` are valid UTF-8. Text that is not never parses (strings are validated, and
    /// no byte over 0x7F may stand outside one), so callers look only when parsing failed, to
    /// tell an encoding error from a syntax error.
    public static func isValidUTF8(_ bytes: some Collection<UInt8>) -> Bool {
        String(validating: bytes, as: UTF8.self) != nil
    }

    /// Parses one JSON text (surrounding whitespace allowed).
    public static func parse(_ bytes: some Collection<UInt8>) throws(Error) -> JSONValue {
        let result: Result<JSONValue, Error>? = bytes.withContiguousStorageIfAvailable { buffer in
            Result { () throws(Error) in try parse(buffer) }
        }
        if let result { return try result.get() }
        return try Array(bytes).withUnsafeBufferPointer { buffer throws(Error) in try parse(buffer) }
    }

    /// Parses one JSON text in `buffer` (surrounding whitespace and a leading byte-order mark allowed);
    /// throws ``Error`` at the first byte that does not fit.
    public static func parse(_ buffer: UnsafeBufferPointer<UInt8>) throws(Error) -> JSONValue {
        var reader = Reader(bytes: buffer)
        // A UTF-8 byte-order mark is ignored, as RFC 8259 section 8.1 allows (and JSONDecoder does).
        if buffer.count >= 3, buffer[0] == 0xEF, buffer[1] == 0xBB, buffer[2] == 0xBF { reader.index = 3 }
        reader.skipSpace()
        let value = try reader.value(depth: 0)
        reader.skipSpace()
        guard reader.index == buffer.count else { throw reader.error("unexpected data after the JSON value") }
        return value
    }

    private struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        func error(_ reason: String) -> Error { Error(offset: index, reason: reason) }

        @inline(__always)
        mutating func skipSpace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        mutating func value(depth: Int) throws(Error) -> JSONValue {
            guard index < bytes.count else { throw error("unexpected end of data") }
            switch bytes[index] {
            case UInt8(ascii: "{"): return try object(depth: depth + 1)
            case UInt8(ascii: "["): return try array(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
            default: throw error("unexpected character")
            }
        }

        mutating func literal(_ word: StaticString) throws(Error) {
            let count = word.utf8CodeUnitCount
            guard bytes.count - index >= count else { throw error("unexpected end of data") }
            for k in 0..<count where bytes[index + k] != word.utf8Start[k] { throw error("invalid literal") }
            index += count
        }

        mutating func object(depth: Int) throws(Error) -> JSONValue {
            guard depth <= JSONParser.maxDepth else { throw error("nested too deeply") }
            index += 1  // {
            var members: [String: JSONValue] = [:]
            skipSpace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(members)
            }
            while true {
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a member name") }
                let key = try string()
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
                index += 1
                skipSpace()
                members[key] = try value(depth: depth)
                skipSpace()
                guard index < bytes.count else { throw error("unexpected end of data") }
                switch bytes[index] {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "}"): index += 1; return .object(members)
                default: throw error("expected ',' or '}'")
                }
            }
        }

        mutating func array(depth: Int) throws(Error) -> JSONValue {
            guard depth <= JSONParser.maxDepth else { throw error("nested too deeply") }
            index += 1  // [
            var elements: [JSONValue] = []
            skipSpace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(elements)
            }
            while true {
                skipSpace()
                elements.append(try value(depth: depth))
                skipSpace()
                guard index < bytes.count else { throw error("unexpected end of data") }
                switch bytes[index] {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "]"): index += 1; return .array(elements)
                default: throw error("expected ',' or ']'")
                }
            }
        }

        /// A string from its opening quote; the fast path (no escape) validates and copies once.
        mutating func string() throws(Error) -> String {
            index += 1  // "
            let start = index
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    guard let text = String(validating: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self) else {
                        throw Error(offset: start - 1, reason: "invalid UTF-8 in a string")
                    }
                    index += 1
                    return text
                }
                if byte == UInt8(ascii: "\\") { break }
                guard byte >= 0x20 else { throw error("control character in a string") }
                index += 1
            }
            guard index < bytes.count else { throw error("unterminated string") }
            // Escapes: collect the bytes, then validate once.
            var utf8 = Array(UnsafeBufferPointer(rebasing: bytes[start..<index]))
            while index < bytes.count {
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    guard let text = String(validating: utf8, as: UTF8.self) else { throw Error(offset: start - 1, reason: "invalid UTF-8 in a string") }
                    return text
                case UInt8(ascii: "\\"):
                    index += 1
                    guard index < bytes.count else { throw error("unterminated string") }
                    let escaped = bytes[index]
                    index += 1
                    switch escaped {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escaped)
                    case UInt8(ascii: "b"): utf8.append(0x08)
                    case UInt8(ascii: "f"): utf8.append(0x0C)
                    case UInt8(ascii: "n"): utf8.append(0x0A)
                    case UInt8(ascii: "r"): utf8.append(0x0D)
                    case UInt8(ascii: "t"): utf8.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = UInt32(try hex4())
                        if (0xD800..<0xDC00).contains(scalar) {
                            guard bytes.count - index >= 6, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                                throw error("a high surrogate without its low surrogate")
                            }
                            index += 2
                            let low = UInt32(try hex4())
                            guard (0xDC00..<0xE000).contains(low) else { throw error("a high surrogate without its low surrogate") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00..<0xE000).contains(scalar) {
                            throw error("a low surrogate without its high surrogate")
                        }
                        guard let unicode = Unicode.Scalar(scalar) else { throw error("invalid \\u escape") }
                        utf8.append(contentsOf: UTF8.encode(unicode)!)
                    default:
                        throw error("invalid escape")
                    }
                default:
                    guard byte >= 0x20 else { throw error("control character in a string") }
                    utf8.append(byte)
                    index += 1
                }
            }
            throw error("unterminated string")
        }

        mutating func hex4() throws(Error) -> UInt16 {
            guard bytes.count - index >= 4 else { throw error("unexpected end of data") }
            var value: UInt16 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: throw error("invalid \\u escape")
                }
                value = value << 4 | UInt16(digit)
                index += 1
            }
            return value
        }

        /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, converted exactly: integers of
        /// up to 15 digits directly, anything else by the C library's correctly rounded `strtod`.
        mutating func number() throws(Error) -> Double {
            let start = index
            var negative = false
            if bytes[index] == UInt8(ascii: "-") {
                negative = true
                index += 1
            }
            guard index < bytes.count, isDigit(bytes[index]) else { throw error("invalid number") }
            var integer: Int64 = 0
            var digits = 0
            if bytes[index] == UInt8(ascii: "0") {
                index += 1
                digits = 1
            } else {
                while index < bytes.count, isDigit(bytes[index]) {
                    if digits < 18 { integer = integer &* 10 &+ Int64(bytes[index] - UInt8(ascii: "0")) }
                    digits += 1
                    index += 1
                }
            }
            var simple = digits <= 15
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                simple = false
                index += 1
                guard index < bytes.count, isDigit(bytes[index]) else { throw error("invalid number") }
                while index < bytes.count, isDigit(bytes[index]) { index += 1 }
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
                simple = false
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
                guard index < bytes.count, isDigit(bytes[index]) else { throw error("invalid number") }
                while index < bytes.count, isDigit(bytes[index]) { index += 1 }
            }
            if simple {
                // -0 stays negative zero, as strtod makes it.
                return negative ? -Double(integer) : Double(integer)
            }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            guard let value = Double(text), value.isFinite else {
                index = start
                throw error("number out of range")
            }
            return value
        }

        @inline(__always)
        func isDigit(_ byte: UInt8) -> Bool { byte &- UInt8(ascii: "0") < 10 }
    }
}
