import Redis
import Synchronization
import Testing

@Suite("Redis client")
struct RedisClientTests {
    /// Found by review: `try? await Task.sleep` returns at once in a cancelled task, so a write
    /// retried through an outage at shutdown spun without pause (6 168 tries in 600 ms), logging
    /// each failure.
    @Test("a cancelled task retrying a write through an outage still waits out each backoff before the next try")
    func cancelledRetryWaits() async throws {
        // Nothing listens on port 1 of loopback: every connection attempt is refused at once.
        let client = RedisClient(endpoint: RedisEndpoint(host: "127.0.0.1", port: 1, timeout: .milliseconds(200)), name: "test")
        // Each failure's time and the backoff announced with it. A busy machine only lengthens
        // the gaps, so the check holds whatever the load: no try comes before its backoff is over.
        let failures = Mutex<[(at: ContinuousClock.Instant, wait: Duration)]>([])
        let retrying = Task {
            _ = await client.sendRetrying(["PING"]) { _, wait in failures.withLock { $0.append((.now, wait)) } }
        }
        retrying.cancel()
        let deadline = ContinuousClock.now + .seconds(60)
        while failures.withLock({ $0.count }) < 5, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let seen = failures.withLock { Array($0.prefix(5)) }
        try #require(seen.count == 5, "only \(seen.count) tries in 60 s")
        for (earlier, later) in zip(seen, seen.dropFirst()) {
            #expect(later.at - earlier.at >= earlier.wait, "a try \(later.at - earlier.at) after the previous one, whose backoff was \(earlier.wait)")
        }
    }
}
