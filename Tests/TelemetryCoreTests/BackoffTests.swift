import TelemetryCore
import Testing

@Suite("Backoff")
struct BackoffTests {
    @Test("doubles from the initial wait up to the maximum, and starts over after reset")
    func doubling() {
        var backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(5))
        let waits = (0..<9).map { _ in backoff.next() }
        #expect(waits == [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000].map { Duration.milliseconds($0) })
        #expect(backoff.failures == 9)
        backoff.reset()
        #expect(backoff.next() == .milliseconds(100))
    }

    @Test("caps: none before a failure; huge counts, Int.max and an initial near Int64.max saturate at the maximum")
    func extremes() {
        let backoff = Backoff(initialMillis: 100, maximumMillis: 5000)
        #expect(backoff.capMillis(afterFailures: 0) == 0)
        #expect(backoff.capMillis(afterFailures: -5) == 0)
        #expect(backoff.capMillis(afterFailures: 63) == 5000)
        #expect(backoff.capMillis(afterFailures: .max) == 5000)
        let wide = Backoff(initialMillis: .max / 2, maximumMillis: .max)
        #expect(wide.capMillis(afterFailures: 3) == .max)
        let negative = Backoff(initialMillis: -10, maximumMillis: -1)
        #expect(negative.capMillis(afterFailures: 4) == 0)
        // A maximum below the initial wait wins (retry.max_ms below retry.base_ms).
        #expect(Backoff(initialMillis: 500, maximumMillis: 200).capMillis(afterFailures: 1) == 200)
    }

    @Test("full jitter stays within 0...cap and follows the injected generator")
    func jitter() {
        let backoff = Backoff(initialMillis: 100, maximumMillis: 10_000)
        var a = SplitMix64(seed: 7)
        var b = SplitMix64(seed: 7)
        for failures in 1...20 {
            let wait = backoff.jitteredMillis(afterFailures: failures, using: &a)
            #expect((0...backoff.capMillis(afterFailures: failures)).contains(wait))
            #expect(wait == backoff.jitteredMillis(afterFailures: failures, using: &b))
        }
        #expect(backoff.jitteredMillis(afterFailures: 0, using: &a) == 0)
    }

    @Test("durations convert to whole milliseconds, saturating")
    func milliseconds() {
        #expect(Duration.milliseconds(1500).wholeMilliseconds == 1500)
        #expect(Duration.microseconds(2999).wholeMilliseconds == 2)
        #expect(Duration.seconds(Int64.max).wholeMilliseconds == .max)
    }
}
