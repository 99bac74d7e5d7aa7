import Configuration
import Foundation
import Logging
import Processor
import Redis
import TelemetryCore
import Testing

/// The consumer's lease bookkeeping against a real Redis, with worker queues nobody drains (a
/// PostgreSQL so slow that every worker waits on it).
@Suite("Consumer leases (real Redis)")
struct ConsumerLeaseTests {
    @Test("lease renewals go on while a taken-over shard's pending entries wait on full worker queues; no lease lapses")
    func renewalsUnderBackpressure() async throws {
        let redis = try TestServers.redis()
        let prefix = "t" + UUID().uuidString.lowercased().prefix(8)
        let ttl = 600
        let configuration = try ProcessorConfiguration(reader: ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: [
            "REDIS_HOST": TestServers.redisHost, "REDIS_PORT": String(TestServers.redisPort), "REDIS_KEY_PREFIX": prefix,
            "STREAMS_SHARDS": "2", "CONSUMER_NAME": "survivor", "LEASE_TTL_MS": String(ttl), "LEASE_RENEW_MS": "100",
            "NUM_WORKERS": "1", "WORKER_QUEUE_DEPTH": "1", "CONSUMER_READ_COUNT": "4",
        ])))
        let keys = configuration.redis.keys
        // A consumer read 12 entries of shard 0, renewed its lease and died.
        for shard in 0..<2 {
            _ = try redis.send(["XGROUP", "CREATE", keys.stream(shard), "processors", "0", "MKSTREAM"])
        }
        _ = try redis.pipeline((0..<12).map { ["XADD", keys.stream(0), "*", "v", "2", "d", "entry-\($0)"] })
        let read = try redis.send(["XREADGROUP", "GROUP", "processors", "dead", "COUNT", "100", "STREAMS", keys.stream(0), ">"])
        #expect(read.array?.first?.array?.last?.array?.count == 12)
        _ = try redis.send(["SET", keys.lease(0), "dead", "PX", String(ttl)])

        let queue = BoundedBuffer<WorkItem>(capacity: 1, policy: .block)  // no worker takes from it
        let control = RedisClient(endpoint: configuration.redis.endpoint, name: "control")
        let consumer = ConsumerActor(reader: RedisClient(endpoint: configuration.redis.endpoint, name: "reader"), control: control, queues: [queue],
                                     configuration: configuration, counters: ProcessorCounters(), logger: Logger(label: "test"))
        let reading = Task { await consumer.run() }
        let maintenance = Task {
            while !Task.isCancelled {
                try? await consumer.maintain()
                try? await Task.sleep(for: .milliseconds(configuration.lease.renewMillis))
            }
        }
        defer {
            reading.cancel()
            maintenance.cancel()
            queue.finish()
        }
        let acquired = try await eventually(timeout: .seconds(20), every: .milliseconds(50)) {
            try redis.send(["GET", keys.lease(0)]).string == "survivor"
        }
        #expect(acquired, "the survivor never took the dead consumer's lease")
        // The claim of the dead consumer's entries fills the queue and then waits on it.
        let claimed = try await eventually(timeout: .seconds(20), every: .milliseconds(50)) {
            let pending = try redis.send(["XPENDING", keys.stream(0), "processors"]).array
            let consumers = pending?.last?.array ?? []
            return queue.count == 1 && consumers.contains { $0.array?.first?.string == "survivor" }
        }
        let detail = try redis.send(["XPENDING", keys.stream(0), "processors", "-", "+", "20"])
        #expect(claimed, "the survivor did not start claiming the pending entries: \(detail)")
        // For five lease lifetimes both leases stay ours without a gap.
        var lapses: [String] = []
        let until = ContinuousClock.now + .milliseconds(5 * ttl)
        while ContinuousClock.now < until {
            for shard in 0..<2 {
                let owner = try redis.send(["GET", keys.lease(shard)]).string
                if owner != "survivor" { lapses.append("shard \(shard): \(owner ?? "no owner")") }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(lapses.isEmpty, "leases lapsed while the worker queue was full: \(lapses.prefix(5))")
        #expect(queue.count == 1)
        let pending = try redis.send(["XPENDING", keys.stream(0), "processors"]).array?.first?.int
        #expect(pending == 12, "no entry may be lost or acknowledged while nobody processed it")
        _ = try redis.send(["DEL", keys.stream(0), keys.stream(1), keys.lease(0), keys.lease(1), keys.heartbeat("survivor")])
    }
}
