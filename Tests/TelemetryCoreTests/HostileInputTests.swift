import TelemetryCore
import Testing

/// Inputs at their extremes (issue 14): none of them may trap, each gets its reason code.
@Suite("Hostile input")
struct HostileInputTests {
    static func task(fields: Int, name: (Int) -> String = { "m\($0)" }) -> [UInt8] {
        var json = #"{"id":"t1","type":"telemetry.store","payload":{"device_id":"d1","timestamp":1766745000123"#
        for i in 0..<fields { json += ",\(PrintableName(name(i))):\(i)" }
        return Array((json + "}}").utf8)
    }

    @Test("timestamps at Int64's edges format, number days and minutes without trapping", arguments: [
        Int64.min, Int64.min + 1, -9_223_372_036_854_775_000, -1, 0, 1, Int64.max - 1, Int64.max,
    ])
    func timestampEdges(micros: Int64) {
        let text = Timestamp.formatRFC3339(micros: micros)
        #expect(text.hasSuffix("Z"))
        let day = Timestamp.dayNumber(micros: micros)
        let minute = Timestamp.minuteStartSeconds(micros: micros)
        // Floor semantics: the minute starts at or before the sample, within 60 s.
        let seconds = Timestamp.floorDivision(micros, 1_000_000).quotient
        #expect(minute <= seconds && seconds - minute < 60)
        #expect(Int64(day) == Timestamp.floorDivision(seconds, 86_400).quotient)
    }

    @Test("floor division matches the mathematical floor for negatives")
    func floorDivision() {
        #expect(Timestamp.floorDivision(-1, 1_000_000) == (-1, 999_999))
        #expect(Timestamp.floorDivision(-1_000_000, 1_000_000) == (-1, 0))
        #expect(Timestamp.formatRFC3339(micros: -1) == "1969-12-31T23:59:59.999999Z")
        #expect(Timestamp.formatRFC3339(micros: 1_766_745_000_123_000) == "2025-12-26T10:30:00.123000Z")
    }

    @Test("a timestamp near Int64.min is refused as too old, with a message, not a trap")
    func validationOfExtremeTimestamp() {
        let policy = ValidationPolicy.default
        let now = wallClockMicros()
        #expect(policy.violation(metric: "temperature", timestampMicros: Int64.min, value: 21, nowMicros: now)?.code == .timestampTooOld)
        #expect(policy.violation(metric: "temperature", timestampMicros: Int64.max, value: 21, nowMicros: now)?.code == .timestampFuture)
        var wide = policy
        wide.maxAgeMicros = .max
        wide.maxFutureSkewMicros = .max
        #expect(wide.violation(metric: "t", timestampMicros: Int64.max, value: 1, nowMicros: now) == nil)
        #expect(wide.violation(metric: "t", timestampMicros: 0, value: 1, nowMicros: now) == nil)
    }

    @Test("a task with more numeric fields than validation.max_fields is too_large, 65 537 fields included", arguments: [1025, 65_537])
    func tooManyFields(fields: Int) {
        #expect(throws: TelemetryError.self) { try TelemetryTaskCodec.decode(Self.task(fields: fields), maxBytes: 1 << 24) }
        do {
            _ = try TelemetryTaskCodec.decode(Self.task(fields: fields), maxBytes: 1 << 24)
        } catch {
            #expect(error.code == .tooLarge)
        }
        #expect((try? TelemetryTaskCodec.decode(Self.task(fields: 1024), maxBytes: 1 << 24))?.metrics.count == 1024)
        #expect((try? TelemetryTaskCodec.decode(Self.task(fields: 10), maxFields: 10))?.metrics.count == 10)
        #expect((try? TelemetryTaskCodec.decode(Self.task(fields: 11), maxFields: 10)) == nil)
    }

    @Test("a NUL, a newline or DEL in a metric name or device id is invalid_field", arguments: ["a\u{0}b", "a\nb", "a\u{7f}", "\u{85}x"])
    func controlCharacters(name: String) throws {
        do {
            _ = try TelemetryTaskCodec.decode(Self.task(fields: 1, name: { _ in name }))
            Issue.record("accepted \(PrintableName(name))")
        } catch {
            #expect(error.code == .invalidField)
            #expect(!error.message.contains("\u{0}"))
        }
        let device = #"{"id":"t1","type":"telemetry.store","payload":{"device_id":\#(PrintableName(name)),"timestamp":1766745000123,"t":1}}"#
        #expect(throws: TelemetryError.self) { try TelemetryTaskCodec.decode(Array(device.utf8)) }
        #expect(ValidationPolicy.containsControlCharacters(name))
        #expect(!ValidationPolicy.containsControlCharacters("température_°C"))
    }

    @Test("a task id with a NUL or another control character is invalid_field (libpq would cut it)")
    func controlCharacterInID() {
        let json = #"{"id":"a\u0000b","type":"telemetry.store","payload":{"device_id":"d","timestamp":1766745000123,"t":1}}"#
        do {
            _ = try TelemetryTaskCodec.decode(Array(json.utf8))
            Issue.record("accepted a NUL in the id")
        } catch {
            #expect(error.code == .invalidField)
        }
    }

    @Test("PrintableName escapes control characters and quotes, and cuts long names")
    func printableName() {
        #expect(PrintableName("a\u{0}\"b").description == #""a\u0000\"b""#)
        #expect(PrintableName(String(repeating: "x", count: 100)).description.count == 67)
    }
}
