import Hub
import Testing

@Suite("Flush rule")
struct FlushRuleTests {
    let rule = FlushRule(intervalMillis: 20, whenIdle: true)

    @Test("a batch closes by age at the flush interval, not before")
    func age() {
        #expect(!rule.closes(openedAtMicros: 1_000_000, nowMicros: 1_019_999, drained: 5, idlePasses: 0, stopping: false))
        #expect(rule.closes(openedAtMicros: 1_000_000, nowMicros: 1_020_000, drained: 5, idlePasses: 0, stopping: false))
    }

    @Test("idle: only when this pass and the one before found nothing, and only with flush_when_idle")
    func idle() {
        #expect(rule.closes(openedAtMicros: 0, nowMicros: 1, drained: 0, idlePasses: 1, stopping: false))
        #expect(!rule.closes(openedAtMicros: 0, nowMicros: 1, drained: 0, idlePasses: 0, stopping: false), "the pass right after a drain is no pause")
        #expect(!rule.closes(openedAtMicros: 0, nowMicros: 1, drained: 3, idlePasses: 1, stopping: false))
        let never = FlushRule(intervalMillis: 20, whenIdle: false)
        #expect(!never.closes(openedAtMicros: 0, nowMicros: 1, drained: 0, idlePasses: 1, stopping: false))
    }

    @Test("stopping flushes everything once a pass finds the rings empty; not while they still drain")
    func stopping() {
        let never = FlushRule(intervalMillis: 60_000, whenIdle: false)
        #expect(never.closes(openedAtMicros: 0, nowMicros: 1, drained: 0, idlePasses: 0, stopping: true))
        #expect(!never.closes(openedAtMicros: 0, nowMicros: 1, drained: 7, idlePasses: 0, stopping: true))
    }

    @Test("clock extremes: a wall clock stepped back does not close; Int64 edges do not trap")
    func extremes() {
        #expect(!rule.closes(openedAtMicros: 5_000_000, nowMicros: 1_000_000, drained: 1, idlePasses: 0, stopping: false))
        #expect(rule.closes(openedAtMicros: .min, nowMicros: .max, drained: 1, idlePasses: 0, stopping: false))
        #expect(!rule.closes(openedAtMicros: .max, nowMicros: .min, drained: 1, idlePasses: 0, stopping: false))
        #expect(FlushRule(intervalMillis: 0, whenIdle: false).closes(openedAtMicros: 7, nowMicros: 7, drained: 1, idlePasses: 0, stopping: false))
    }
}
