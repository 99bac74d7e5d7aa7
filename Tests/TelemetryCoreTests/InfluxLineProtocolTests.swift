import Testing
@testable import TelemetryCore

/// The line protocol grammar (InfluxDB's documentation), case by case, and malformed lines.
@Suite("InfluxDB line protocol")
struct InfluxLineProtocolTests {
    typealias LP = InfluxLineProtocol

    static func parse(_ line: String) throws(LP.LineError) -> LP.Point? { try LP.parse(Array(line.utf8)[...]) }

    @Test("measurement, tags, every field type, timestamp")
    func grammar() throws {
        let point = try #require(try Self.parse(#"weather,location=us-midwest,season=summer temperature=82,humidity=71i,count=3u,ok=t,note="hot day" 1465839830100400200"#))
        #expect(point.measurement == "weather")
        #expect(point.tags.map(\.key) == ["location", "season"] && point.tags.map(\.value) == ["us-midwest", "summer"])
        #expect(point.fields.map(\.key) == ["temperature", "humidity", "count", "ok", "note"])
        #expect(point.fields.map(\.value) == [.float(82), .integer(71), .unsigned(3), .boolean(true), .string("hot day")])
        #expect(point.timestamp == 1_465_839_830_100_400_200)
        #expect(try Self.parse("m v=1")?.timestamp == nil)
        #expect(try Self.parse("m v=-1.5e-3 -10")?.timestamp == -10)
        #expect(try Self.parse("m v=.5")?.fields.first?.value == .float(0.5))
        for accepted in ["m v=1.", "m v=01", "m v=-0", "m v=1E5", "m v=1e+5", "m  v=1", "  m v=1", "m,t=1  v=1", "m v=1 ", "m v=1 -9223372036854775806"] {
            #expect(try Self.parse(accepted) != nil, "\(accepted)")
        }
    }

    @Test("escapes: measurement commas and spaces, tag and field keys' equals signs, string quotes and backslashes; other backslashes are literal")
    func escapes() throws {
        let point = try #require(try Self.parse(#"my\ meas\,ure,tag\ key\,x\=y=val\ ue\=1 field\=key="say \"hi\" c:\\dir \n",other=1 1"#))
        #expect(point.measurement == "my meas,ure")
        #expect(point.tags.first?.key == "tag key,x=y" && point.tags.first?.value == "val ue=1")
        #expect(point.fields.first?.key == "field=key")
        #expect(point.fields.first?.value == .string(#"say "hi" c:\dir \n"#))
        #expect(try Self.parse(#"m\x v=1"#)?.measurement == #"m\x"#)
        #expect(try Self.parse(#"m s="a,b c=d""#)?.fields.first?.value == .string("a,b c=d"))
        // As influxd 1.6 stores it: the token to the next comma or space without its first and last byte.
        #expect(try Self.parse(#"m v="a"b,w=1"#)?.fields.map(\.value) == [.string(#"a""#), .float(1)])
    }

    @Test("booleans in every spelling, duplicate field keys keep the last, comments and blank lines are skipped")
    func booleansAndSkips() throws {
        for (text, value) in [("t", true), ("T", true), ("true", true), ("True", true), ("TRUE", true),
                              ("f", false), ("F", false), ("false", false), ("False", false), ("FALSE", false)] {
            #expect(try Self.parse("m b=\(text)")?.fields.first?.value == .boolean(value))
        }
        #expect(try Self.parse("m a=1,a=2")?.fields.map(\.value) == [.float(2)])
        #expect(try Self.parse("") == nil)
        #expect(try Self.parse("   ") == nil)
        #expect(try Self.parse("# a comment") == nil)
        #expect(try Self.parse("  # indented comment") == nil)
        // A CR ends a line only after a string value, as in influxd 1.6 (which refuses `v=1\r`).
        #expect(try Self.parse("m v=\"x\"\r")?.fields.first?.value == .string("x"))
        for line in ["m v=1\r", "m v=1 123\r", "m v=1 123 \r", "m v=t\r", "m v=1i\r"] {
            #expect(throws: LP.LineError.self, "\(line)") { try Self.parse(line) }
        }
    }

    @Test("Int64 and UInt64 at their edges; floats must be finite decimals")
    func numbers() throws {
        #expect(try Self.parse("m v=9223372036854775807i")?.fields.first?.value == .integer(Int64.max))
        #expect(try Self.parse("m v=-9223372036854775808i")?.fields.first?.value == .integer(Int64.min))
        #expect(try Self.parse("m v=18446744073709551615u")?.fields.first?.value == .unsigned(UInt64.max))
        #expect(try Self.parse("m v=1e308")?.fields.first?.value == .float(1e308))
        for (line, reason) in [("m v=9223372036854775808i", "value out of range"), ("m v=18446744073709551616u", "value out of range"),
                               ("m v=1e309", "invalid number"), ("m v=inf", "invalid number"), ("m v=NaN", "invalid number"),
                               ("m v=0x10", "invalid number"), ("m v=1.2.3", "invalid number"), ("m v=-1u", "invalid number"),
                               ("m v=1ii", "invalid number"), ("m v=.", "invalid number"), ("m v=e5", "invalid number"), ("m v=1-2", "invalid number"),
                               ("m v=+1", "invalid number"), ("m v=1e", "invalid number")] {
            #expect(throws: LP.LineError(reason), "\(line)") { try Self.parse(line) }
        }
    }

    @Test("malformed lines are refused with InfluxDB's reasons")
    func malformed() throws {
        for (line, reason) in [("m", "missing fields"), ("m ", "missing fields"), (",t=1 v=1", "missing measurement"),
                               ("m,t v=1", "missing tag value"), ("m,t= v=1", "missing tag value"), ("m,=v f=1", "missing tag key"),
                               ("m v", "missing field value"), ("m =1", "missing field key"), ("m v=", "missing field value"),
                               (#"m v="abc"#, "unbalanced quotes"), ("m v=1 abc", "bad timestamp"), ("m v=1 12 13", "bad timestamp"),
                               ("m v=1,", "missing field key"), ("m v=bogus", "invalid number"), ("m,a=1,a=2 v=1", "duplicate tags"), ("m,t=v=1 v=1", "invalid tag format"),
                               ("m v=1 -9223372036854775808", "time outside range"), ("m v=1 9223372036854775807", "time outside range"),
                               (#"m v="a" b"#, "bad timestamp"), ("m v=1 +5", "bad timestamp")] {
            #expect(throws: LP.LineError(reason), "\(line)") { try Self.parse(line) }
        }
    }

    @Test("precision names of 1.x and 2.x")
    func precisions() {
        #expect(LP.nanosPerUnit(precision: "ns") == 1 && LP.nanosPerUnit(precision: "n") == 1 && LP.nanosPerUnit(precision: "") == 1)
        #expect(LP.nanosPerUnit(precision: "us") == 1000 && LP.nanosPerUnit(precision: "u") == 1000)
        #expect(LP.nanosPerUnit(precision: "ms") == 1_000_000 && LP.nanosPerUnit(precision: "s") == 1_000_000_000)
        #expect(LP.nanosPerUnit(precision: "h") == 3_600_000_000_000 && LP.nanosPerUnit(precision: "x") == nil)
        // Floored to microseconds; outside InfluxDB's nanosecond range once scaled: nil.
        #expect(LP.micros(timestamp: 1_999, nanosPerUnit: 1) == 1 && LP.micros(timestamp: -1, nanosPerUnit: 1) == -1)
        #expect(LP.micros(timestamp: 9_223_372_037, nanosPerUnit: 1_000_000_000) == nil)
        #expect(LP.micros(timestamp: 9_223_372_036, nanosPerUnit: 1_000_000_000) == 9_223_372_036_000_000)
        #expect(LP.micros(timestamp: Int64.max, nanosPerUnit: 1) == nil && LP.micros(timestamp: Int64.min + 2, nanosPerUnit: 1) != nil)
    }
}
