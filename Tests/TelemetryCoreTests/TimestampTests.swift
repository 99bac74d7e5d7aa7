import TelemetryCore
import Testing

@Suite("Timestamp")
struct TimestampTests {
    @Test("RFC 3339 parsing and formatting agree", arguments: [
        ("2025-12-26T10:30:00Z", Int64(1_766_745_000_000_000)),
        ("2025-12-26T12:30:00.5+02:00", Int64(1_766_745_000_500_000)),
        ("1970-01-01T00:00:00Z", Int64(0)),
        ("2024-02-29T23:59:59.999999Z", Int64(1_709_251_199_999_999)),
    ])
    func rfc3339(text: String, micros: Int64) {
        #expect(Timestamp.parseRFC3339(text) == micros)
        #expect(Timestamp.parseRFC3339(Timestamp.formatRFC3339(micros: micros)) == micros)
    }

    @Test("invalid timestamps are refused", arguments: ["2025-13-01T00:00:00Z", "2025-02-30T00:00:00Z", "2025-12-26", "2025-12-26T10:30:00", "x"])
    func invalidTimestamps(text: String) {
        #expect(Timestamp.parseRFC3339(text) == nil)
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
}
