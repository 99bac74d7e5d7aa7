import Redis
import Synchronization
import Testing

@Suite("Redis client")
struct RedisClientTests {
    /// Found by review: `try? await Task.sleep` returns at once in a cancelled task, so a write
    /// retried through an outage at shutdown spun without pause, logging each failure.
    @Test("a cancelled task retrying a write through an outage still waits out its backoff")
    func cancelledRetryWaits() async throws {
        // Nothing listens on port 1 of loopback: every connection attempt is refused at once.
        let client = RedisClient(endpoint: RedisEndpoint(host: "127.0.0.1", port: 1, timeout: .milliseconds(200)), name: "test")
        let failures = Atomic<Int>(0)
        let retrying = Task {
            _ = await client.sendRetrying(["PING"]) { _, _ in failures.add(1, ordering: .relaxed) }
        }
        retrying.cancel()
        try await Task.sleep(for: .milliseconds(600))
        // Backoff from 50 ms, doubling (with jitter): a handful of tries in 600 ms; a loop
        // without pauses makes thousands.
        let tries = failures.load(ordering: .relaxed)
        #expect(tries >= 1)
        #expect(tries < 60, "\(tries) tries in 600 ms")
    }
}
