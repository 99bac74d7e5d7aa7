import TelemetryCore
import Testing

/// The wire contracts shared by the hub, the processor and telemetryctl.
@Suite("Wire contracts: dead letter")
struct DeadLetterTests {
    @Test("a dead letter reads back what was written; a payload over 1 MiB is cut and its size kept; missing fields read as empty")
    func deadLetter() {
        let error = TelemetryError(.outOfRange, "temperature 1e308 outside -50...150\u{0}\n")
        let letter = DeadLetter(error: error, attempts: 3, firstFailureMillis: .min, lastFailureMillis: .max, source: "stream:7",
                                sourceID: "1-0", payload: Array(repeating: 0xFF, count: DeadLetter.maxPayloadBytes + 5))
        #expect(letter.payload.count == DeadLetter.maxPayloadBytes && letter.payloadTruncatedFrom == DeadLetter.maxPayloadBytes + 5)
        #expect(letter.reason == "out_of_range")
        let read = DeadLetter(fields: Dictionary(letter.fields.map { ($0.name, $0.value) }) { $1 })
        #expect(read == letter)
        #expect(Set(letter.fields.map(\.name)) == Set(DeadLetter.Field.allCases.map(\.rawValue)))
        let whole = DeadLetter(error: error, attempts: 1, firstFailureMillis: 1, lastFailureMillis: 1, source: "compat", sourceID: "t", payload: [1])
        #expect(whole.payloadTruncatedFrom == nil && !whole.fields.contains { $0.name == "payload_truncated_from" })
        let empty = DeadLetter(fields: [:])
        #expect(empty.reason.isEmpty && empty.attempts == 0 && empty.payload.isEmpty && empty.payloadTruncatedFrom == nil)
    }
}
