import TelemetryCore
import Testing

@Suite("Validation policy")
struct ValidationPolicyTests {
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

    @Test("PrintableName escapes control characters and quotes, and cuts long names")
    func printableName() {
        #expect(PrintableName("a\u{0}\"b").description == #""a\u0000\"b""#)
        #expect(PrintableName(String(repeating: "x", count: 100)).description.count == 67)
    }
}
