import Processor
import TelemetryCore
import Testing

@Suite("Retry policy")
struct RetryPolicyTests {
    let policy = RetryPolicy(maxRetries: 3, retry: Backoff(initialMillis: 100, maximumMillis: 1000))

    @Test("a retry scheduled in the ledger is waited for, even by a fresh process")
    func scheduled() {
        let state = RetryLedger.State(failures: 1, firstFailureMillis: 1000, nextAttemptMillis: 5000)
        #expect(policy.beforeAttempt(state, nowMillis: 4000) == .waitUntil(millis: 5000))
        #expect(policy.beforeAttempt(state, nowMillis: 5000) == .attempt)
        #expect(policy.beforeAttempt(RetryLedger.State(), nowMillis: 0) == .attempt)
    }

    @Test("outages and lost races are waited out and spend no attempt; the wait is the outage backoff")
    func outages() {
        #expect(RetryPolicy.isWaitedOut(.outage) && RetryPolicy.isWaitedOut(.conflict))
        #expect(!RetryPolicy.isWaitedOut(.data) && !RetryPolicy.isWaitedOut(.other))
        var outage = policy.outage
        #expect(outage.next() == .milliseconds(100))
        #expect((0..<10).map { _ in outage.next() }.last == .seconds(5))
    }

    @Test("a data error of a batch with samples is isolated, and counts nothing")
    func dataError() {
        var state = RetryLedger.State()
        var random = SplitMix64(seed: 1)
        #expect(policy.afterFailure(.data, samples: 10, state: &state, nowMillis: 1, using: &random) == .isolate)
        #expect(state == RetryLedger.State())
        // With no samples to isolate, it counts like any other failure.
        #expect(policy.afterFailure(.data, samples: 0, state: &state, nowMillis: 1, using: &random) == .retry)
        #expect(state.failures == 1)
    }

    @Test("other failures retry maxRetries times with jittered, capped backoff, then dead-letter as retries_exhausted")
    func exhausted() {
        var state = RetryLedger.State()
        var random = SplitMix64(seed: 3)
        var now: Int64 = 10_000
        for failure in 1...3 {
            #expect(policy.afterFailure(.other, samples: 5, state: &state, nowMillis: now, using: &random) == .retry)
            #expect(state.failures == failure)
            #expect(state.firstFailureMillis == 10_000, "the first failure's time is kept")
            let cap = policy.retry.capMillis(afterFailures: failure)
            #expect((now...now + cap).contains(state.nextAttemptMillis))
            now += 2000
        }
        #expect(policy.afterFailure(.other, samples: 5, state: &state, nowMillis: now, using: &random) == .deadLetter(.retriesExhausted, attempts: 4))
    }

    @Test("maxRetries 0 dead-letters at the first counted failure; a ledger at Int.max failures does not overflow")
    func edges() {
        var random = SplitMix64(seed: 2)
        let none = RetryPolicy(maxRetries: 0, retry: Backoff(initialMillis: 100, maximumMillis: 1000))
        var state = RetryLedger.State()
        #expect(none.afterFailure(.other, samples: 1, state: &state, nowMillis: 0, using: &random) == .deadLetter(.retriesExhausted, attempts: 1))
        var worn = RetryLedger.State(failures: .max, firstFailureMillis: 1, nextAttemptMillis: 0)
        #expect(policy.afterFailure(.other, samples: 1, state: &worn, nowMillis: .max, using: &random) == .deadLetter(.retriesExhausted, attempts: .max))
        var late = RetryLedger.State()
        #expect(policy.afterFailure(.other, samples: 1, state: &late, nowMillis: .max - 1, using: &random) == .retry)
        #expect(late.nextAttemptMillis == .max, "the next attempt saturates instead of wrapping")
    }
}
