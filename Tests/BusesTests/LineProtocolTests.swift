import Buses
import Testing
import TelemetryCore

@Suite("UART line protocol")
struct LineProtocolTests {
    func parse(_ line: String, precision: TimestampPrecision = .milliseconds) throws(TelemetryError) -> LineReading? {
        try LineProtocol.parse(Array(line.utf8)[...], precision: precision)
    }

    func reason(_ line: String) -> String? {
        do throws(TelemetryError) {
            _ = try parse(line)
            return nil
        } catch {
            return error.code.description
        }
    }

    @Test("the issue's example line")
    func example() throws {
        let reading = try #require(try parse("sensor_001 temperature=23.5 humidity=65.2 pressure=1013.25 1766745000123"))
        #expect(reading.device == "sensor_001")
        #expect(reading.fields == [MetricValue(name: "temperature", value: 23.5), MetricValue(name: "humidity", value: 65.2),
                                   MetricValue(name: "pressure", value: 1013.25)])
        #expect(reading.timestampMicros == 1_766_745_000_123_000)
    }

    @Test("tags ignored, integer, unsigned and boolean fields, string fields skipped, escapes, precisions")
    func variants() throws {
        let r = try #require(try parse(#"room\ 4,site=lab,floor=2 count=12i,errors=3u,door=t,label="a, b=c" 1700000000"#, precision: .seconds))
        #expect(r.device == "room 4")
        #expect(r.fields == [MetricValue(name: "count", value: 12), MetricValue(name: "errors", value: 3), MetricValue(name: "door", value: 1)])
        #expect(r.timestampMicros == 1_700_000_000_000_000)
        #expect(try parse("d x=-1.5e3 1700000000000000000", precision: .nanoseconds)?.timestampMicros == 1_700_000_000_000_000)
        #expect(try parse("d x=1")?.timestampMicros == nil)
        #expect(try parse("   ") == nil)
        #expect(try parse("# a comment") == nil)
        #expect(try parse("d x=1   ")?.fields.count == 1)
    }

    @Test("garbage gets a reason code, never a crash")
    func garbage() {
        #expect(reason("sensor_001") == "missing_field")
        #expect(reason(" temperature=1") == "malformed_line")
        #expect(reason("d temperature") == "malformed_line")
        #expect(reason("d temperature=") == "invalid_field")
        #expect(reason("d temperature=abc") == "invalid_field")
        #expect(reason("d temperature=0x10") == "invalid_field")
        #expect(reason("d temperature=nan") == "non_finite")
        #expect(reason("d temperature=1e999") == "non_finite")
        #expect(reason("d temperature=1 12:30") == "malformed_line")
        #expect(reason("d temperature=21.7 humid") == "malformed_line")  // a line cut off
        #expect(reason("d temperature=1 17 extra") == "malformed_line")
        #expect(reason("d t=1,t=2") == "invalid_field")
        #expect(reason("d s=\"unterminated") == "malformed_line")
        #expect(reason("d s=\"only strings\"") == "missing_field")
        #expect(reason("d =1") == "malformed_line")
        #expect(reason("d,tag x=1") == "malformed_line")
        #expect(reason("d x=-3u") == "invalid_field")
        #expect(reason(String(repeating: "d", count: 200) + " x=1") == "invalid_field")
        var invalid = Array("d x=1".utf8)
        invalid[0] = 0xFF
        #expect(throws: TelemetryError.self) { try LineProtocol.parse(invalid[...]) }
        do { _ = try LineProtocol.parse(invalid[...]) } catch { #expect(error.code == .invalidUTF8) }
        #expect(reason("d x=1 99999999999999999999") == "invalid_field")
    }

    @Test("the framer splits lines, strips CR, and cuts off over-long lines")
    func framer() {
        var framer = LineFramer(maxLineBytes: 8)
        var out: [LineFramer.Output] = []
        framer.feed(Array("ab\r\ncd".utf8)) { out.append($0) }
        #expect(out == [.line(Array("ab".utf8)[...])])
        #expect(framer.partial == Array("cd".utf8))
        framer.feed(Array("e\n0123456789abc\nxy\n".utf8)) { out.append($0) }
        #expect(out == [.line(Array("ab".utf8)[...]), .line(Array("cde".utf8)[...]), .tooLong(Array("01234567".utf8)[...]), .line(Array("xy".utf8)[...])])
        framer.feed(Array("half".utf8)) { _ in }
        #expect(framer.reset() == Array("half".utf8))
        #expect(framer.partial.isEmpty)
    }
}

@Suite("UART line protocol, hostile lines")
struct LineProtocolHostileTests {
    @Test("a millisecond timestamp near Int64.min parses (the processor refuses it as too old)")
    func extremeTimestamp() throws {
        let reading = try #require(try LineProtocol.parse(Array("dev temperature=21 -9223372036854775".utf8)[...]))
        #expect(reading.timestampMicros == -9_223_372_036_854_775_000)
        #expect(ValidationPolicy.default.violation(metric: "temperature", timestampMicros: reading.timestampMicros!, value: 21,
                                                   nowMicros: wallClockMicros())?.code == .timestampTooOld)
    }

    @Test("a NUL or control byte in the device id or a field name is invalid_field")
    func controlBytes() {
        for line in ["de\u{0}v t=1", "dev t\u{1}x=1", "dev,tag=1 t\u{7f}=2"] {
            do {
                _ = try LineProtocol.parse(Array(line.utf8)[...])
                Issue.record("accepted \(PrintableName(line))")
            } catch {
                #expect(error.code == .invalidField, "\(PrintableName(line))")
            }
        }
    }

    @Test("a line with more numeric fields than max_fields is too_large")
    func tooManyFields() throws {
        let line = "dev " + (0..<1025).map { "f\($0)=\($0)" }.joined(separator: ",")
        do {
            _ = try LineProtocol.parse(Array(line.utf8)[...])
            Issue.record("accepted 1025 fields")
        } catch {
            #expect(error.code == .tooLarge)
        }
        let five = "dev " + (0..<5).map { "f\($0)=\($0)" }.joined(separator: ",")
        #expect(try LineProtocol.parse(Array(five.utf8)[...], maxFields: 5)?.fields.count == 5)
        #expect(throws: TelemetryError.self) { try LineProtocol.parse(Array(five.utf8)[...], maxFields: 4) }
    }
}
