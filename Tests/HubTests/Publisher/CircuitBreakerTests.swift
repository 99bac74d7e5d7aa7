import Hub
import Testing

@Suite("Circuit breaker")
struct CircuitBreakerTests {
    @Test("opens on failure, probes after the interval, backs off, closes on success")
    func cycle() {
        var breaker = CircuitBreaker(probeIntervalMillis: 100, maxProbeIntervalMillis: 400)
        var allowed = breaker.allowsAttempt(nowMillis: 0)
        #expect(allowed)
        breaker.recordFailure(nowMillis: 0)
        #expect(breaker.state == .open(retryAtMillis: 100))
        allowed = breaker.allowsAttempt(nowMillis: 50)
        #expect(!allowed)
        allowed = breaker.allowsAttempt(nowMillis: 100)
        #expect(allowed)
        #expect(breaker.state == .halfOpen)
        breaker.recordFailure(nowMillis: 100)
        #expect(breaker.state == .open(retryAtMillis: 300))
        breaker.recordFailure(nowMillis: 300)
        breaker.recordFailure(nowMillis: 300)
        #expect(breaker.state == .open(retryAtMillis: 700))  // capped at 400
        allowed = breaker.allowsAttempt(nowMillis: 700)
        #expect(allowed)
        breaker.recordSuccess()
        #expect(breaker.state == .closed && breaker.consecutiveFailures == 0)
    }
}
