import Logging
public import Redis
public import TelemetryCore

/// Writes batches to their shard streams, pipelined: one `XADD` per batch, up to `pipeline`
/// batches per round trip. A failed round trip is retried with backoff until it succeeds, so an
/// outage costs latency; a batch written twice (reply lost) is deduplicated by its id downstream.
public actor PublisherActor {
    private let redis: RedisClient
    private let buffer: BoundedBuffer<HubBatch>
    private let keys: RedisKeys
    private let counters: HubCounters
    private let pipeline: Int
    private let retentionMillis: Int64
    private let logger: Logger

    public init(redis: RedisClient, buffer: BoundedBuffer<HubBatch>, keys: RedisKeys, counters: HubCounters,
                pipeline: Int, retentionDays: Int, logger: Logger) {
        self.redis = redis
        self.buffer = buffer
        self.keys = keys
        self.counters = counters
        self.pipeline = pipeline
        self.retentionMillis = Int64(retentionDays) * 86_400_000
        self.logger = logger
    }

    /// Publishes until the buffer is finished and empty.
    public func run() async {
        while let batches = await buffer.next(max: pipeline) {
            await publish(batches)
        }
    }

    private func publish(_ batches: [HubBatch]) async {
        let minID = String(wallClockMicros() / 1000 - retentionMillis)
        let commands = batches.map { batch -> RedisCommand in
            var command: RedisCommand = ["XADD", keys.stream(batch.shard), "MINID", "~", minID, "*",
                                         "v", String(HubBatchCodec.currentVersion), "id", batch.id]
            command.append("d")
            command.append(bytes: HubBatchCodec.encode(batch))
            return command
        }
        var backoff = Duration.milliseconds(50)
        while true {
            do {
                let replies = try await redis.pipeline(commands)
                if let failure = replies.first(where: { if case .error = $0 { true } else { false } }) {
                    throw RedisError(.server, "XADD failed: \(failure)")
                }
                counters.batchesPublished.add(batches.count, ordering: .relaxed)
                counters.samplesPublished.add(batches.reduce(0) { $0 + $1.samples.count }, ordering: .relaxed)
                if backoff > .milliseconds(50) { logger.info("publishing to redis again", metadata: ["redis": "\(redis.endpoint)"]) }
                return
            } catch {
                counters.publishErrors.add(1, ordering: .relaxed)
                logger.warning("publishing failed, retrying", metadata: ["error": "\(error)", "retry_in": "\(backoff)"])
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
    }
}
