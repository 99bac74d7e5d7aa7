import Foundation
import TelemetryCore
import Testing

@Suite("JSONParser")
struct JSONParserTests {
    /// Valid and invalid JSON texts: the parser must agree with Foundation's `JSONDecoder` on
    /// every one (same value, or both an error).
    static let corpus: [String] = [
        // values
        "null", "true", "false", "0", "-0", "1", "-1", "42", " 42 ", "\t\n\r 7 \n",
        "1.5", "-1.25", "0.1", "3.141592653589793", "1e5", "1E5", "1e+5", "1e-5", "-2.5E-3", "123456789012345",
        "1234567890123456", "12345678901234567890", "9007199254740993", "0.000001", "1e308", "2.2250738585072014e-308",
        "\"\"", "\"abc\"", "\"a b\"", "\"caf\u{e9}\"", "\"\u{1F600}\"", "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\u0041\\u00e9\\u20AC\"",
        "\"\\ud83d\\ude00\"", "\"x\\u0000y\"",
        "[]", "[ ]", "[1,2,3]", "[1, [2, [3, []]], {}]", "{}", "{ }", "{\"a\":1}", "{\"a\" : 1 , \"b\" : [true, null]}",
        "{\"device_id\":\"d1\",\"timestamp\":1766745000123,\"temperature\":21.5,\"raw_data\":\"x\"}",
        "{\"\":0}", "{\"nested\":{\"deep\":{\"deeper\":[{\"x\":-0.5e-2}]}}}",
        // invalid
        "", " ", "nul", "nulll", "tru", "True", "NaN", "Infinity", "-Infinity", "+1", "01", "-01", "1.", ".5", "-", "1e", "1e+", "0x10",
        "1e400", "-1e400", "1 2", "[,1]", "[1 2]", "{\"a\" 1}", "{a:1}", "{'a':1}", "{\"a\":}", "{1:2}", "[", "]", "{", "}",
        "\"abc", "\"a\\x\"", "\"\\u12\"", "\"\\u12G4\"", "\"\\ud83d\"", "\"\\ude00\"", "\"\\ud83d\\u0041\"", "\"a\tb\"", "\"a\nb\"",
        "[1]x", "{} {}", "\"a\"\"b\"", "[\"a\" \"b\"]",
    ]

    @Test("agrees with JSONDecoder on every text of the corpus")
    func agreesWithJSONDecoder() throws {
        for text in Self.corpus {
            let bytes = Array(text.utf8)
            let expected = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes))
            let parsed = try? JSONParser.parse(bytes)
            #expect(parsed == expected, "\(text.debugDescription): parser \(String(describing: parsed)), JSONDecoder \(String(describing: expected))")
        }
    }

    @Test("a trailing comma is an error (RFC 8259), although JSONDecoder lets it through")
    func trailingComma() throws {
        for text in ["[1,]", "{\"a\":1,}", "[[1],]", "{\"a\":{\"b\":2,},\"c\":3}"] {
            #expect((try? JSONParser.parse(Array(text.utf8))) == nil, "\(text)")
        }
        #expect((try? JSONDecoder().decode(JSONValue.self, from: Data("[1,]".utf8))) != nil)
    }

    @Test("agrees with JSONDecoder on generated documents and on every truncation of one")
    func generated() throws {
        var generator = SplitMix64(seed: 0x5eed)
        for _ in 0..<300 {
            let text = Self.document(&generator, depth: 0)
            let bytes = Array(text.utf8)
            let expected = try JSONDecoder().decode(JSONValue.self, from: Data(bytes))
            #expect(try JSONParser.parse(bytes) == expected, "\(text)")
        }
        let sample = Array(#"{"device_id":"caf\u00e9-1","timestamp":"2026-11-23T10:00:00Z","t":[1.5,-2e3,{"x":null}],"ok":true}"#.utf8)
        for end in 0..<sample.count {
            #expect((try? JSONParser.parse(sample[0..<end])) == nil, "prefix of \(end) bytes")
        }
        #expect(try JSONParser.parse(sample) == JSONDecoder().decode(JSONValue.self, from: Data(sample)))
    }

    @Test("invalid UTF-8 in a string, nesting beyond the limit and a number out of range are errors with an offset")
    func errors() {
        for bytes: [UInt8] in [[0x20, 0x22, 0xC3, 0x28, 0x22], [0x20, 0x22, 0x5C, 0x6E, 0xC3, 0x22]] {
            do {
                _ = try JSONParser.parse(bytes)
                Issue.record("invalid UTF-8 was accepted: \(bytes)")
            } catch {
                #expect(error.offset == 1 && error.reason == "invalid UTF-8 in a string")  // where the string starts
            }
        }
        #expect((try? JSONParser.parse([0xEF, 0xBB, 0xBF] + Array("[1]".utf8))) == .array([.number(1)]))
        guard case .number(let negativeZero) = try? JSONParser.parse(Array("-0".utf8)) else {
            Issue.record("-0 was not parsed")
            return
        }
        #expect(negativeZero == 0 && negativeZero.sign == .minus)
        let deep = String(repeating: "[", count: JSONParser.maxDepth + 1) + String(repeating: "]", count: JSONParser.maxDepth + 1)
        #expect(throws: JSONParser.Error.self) { try JSONParser.parse(Array(deep.utf8)) }
        let fine = String(repeating: "[", count: JSONParser.maxDepth) + String(repeating: "]", count: JSONParser.maxDepth)
        #expect((try? JSONParser.parse(Array(fine.utf8))) != nil)
        do {
            _ = try JSONParser.parse(Array(#"{"t": 1e999}"#.utf8))
            Issue.record("1e999 was accepted")
        } catch {
            #expect(error.offset == 6 && error.reason == "number out of range")
        }
    }

    /// A random JSON document of objects, arrays, strings with escapes, and numbers.
    static func document(_ g: inout SplitMix64, depth: Int) -> String {
        switch depth >= 3 ? g.next() % 4 : g.next() % 6 {
        case 0: return ["null", "true", "false"][Int(g.next() % 3)]
        case 1:
            let mantissa = Int64(bitPattern: g.next()) % 10_000_000
            switch g.next() % 4 {
            case 0: return String(mantissa)
            case 1: return "\(mantissa).\(g.next() % 1000)"
            case 2: return "\(mantissa)e\(Int(g.next() % 40) - 20)"
            default: return "\(Double(bitPattern: g.next() >> 2 | 0x3000_0000_0000_0000))"
            }
        case 2, 3:
            let pieces = ["a", "Z", "\\n", "\\\"", "\\\\", "\\u00e9", "é", "\\ud83d\\ude00", "😀", " ", "\\/", "\\t"]
            return "\"" + (0..<Int(g.next() % 6)).map { _ in pieces[Int(g.next() % UInt64(pieces.count))] }.joined() + "\""
        case 4:
            return "[" + (0..<Int(g.next() % 4)).map { _ in document(&g, depth: depth + 1) }.joined(separator: ", ") + "]"
        default:
            let members = (0..<Int(g.next() % 4)).map { k in "\"k\(k)\": " + document(&g, depth: depth + 1) }
            return "{" + members.joined(separator: ",") + "}"
        }
    }
}

/// `JSONDecoder`'s reading of a ``JSONValue``: the reference the parser is held to.
extension JSONValue: Decodable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }
}
