import Logging
public import Redis
public import TelemetryCore

/// Writes batches to their shard streams, pipelined (one `XADD` per batch, up to `pipeline`
/// batches per round trip), behind a circuit breaker.
///
/// While Redis fails, batches go to the on-disk ``Spool`` and keep going there until the spool
/// is replayed, oldest first, once a probe succeeds: order is kept and an outage costs latency,
/// never data. A full spool either holds new batches back (`block`: the bounded buffer fills and
/// the devices wait) or drops its oldest records (`drop_oldest`, counted). A batch written twice
/// (reply lost, or replayed after a crash) is deduplicated downstream by its id.
public actor PublisherActor {
    private let redis: RedisClient
    private let buffer: BoundedBuffer<HubBatch>
    private let spool: Spool
    private let keys: RedisKeys
    private let counters: HubCounters
    private let pipeline: Int
    private let spoolFullPolicy: BufferFullPolicy
    private let logger: Logger
    private var breaker: CircuitBreaker
    /// Batches taken from the buffer that the spool had no room for yet.
    private var pending: [EncodedBatch] = []
    private var spooled = 0
    private let heartbeat: StageHeartbeat

    public init(redis: RedisClient, buffer: BoundedBuffer<HubBatch>, spool: Spool, keys: RedisKeys, counters: HubCounters,
                pipeline: Int, spoolFullPolicy: BufferFullPolicy, breaker: CircuitBreaker, logger: Logger,
                heartbeat: StageHeartbeat = StageHeartbeat(name: "publisher")) {
        self.heartbeat = heartbeat
        self.redis = redis
        self.buffer = buffer
        self.spool = spool
        self.keys = keys
        self.counters = counters
        self.pipeline = pipeline
        self.spoolFullPolicy = spoolFullPolicy
        self.breaker = breaker
        self.logger = logger
    }

    /// The breaker's state name, for status.
    public var breakerState: String { breaker.name }

    /// Publishes until the buffer is finished and empty; on the way out, replays what it can of
    /// the spool (what Redis does not take stays on disk for the next start).
    public func run() async {
        spooled = await spool.count
        await publishSpoolGauges()
        while true {
            heartbeat.beat()
            if spooled == 0 && pending.isEmpty && breaker.state == .closed {
                heartbeat.idle()  // waiting for batches is idle by design
                guard let taken = await buffer.next(max: pipeline) else { return }
                let batches = taken.map(EncodedBatch.init)
                heartbeat.beat()
                if await send(batches) {
                    breaker.recordSuccess()
                    counters.breakerOpen.store(0, ordering: .relaxed)
                    counters.spoolFull.store(0, ordering: .relaxed)
                } else {
                    breaker.recordFailure(nowMillis: wallClockMicros() / 1000)
                    logger.warning("redis unavailable: circuit breaker open, spooling to disk", metadata: ["redis": "\(redis.endpoint)"])
                    pending = batches
                }
                continue
            }
            // Degraded: everything goes through the spool, which is replayed when Redis answers.
            var progressed = await spoolPending()
            if pending.isEmpty, let batches = buffer.tryNext(max: pipeline) {
                pending = batches.map(EncodedBatch.init)
                progressed = await spoolPending() || progressed
            }
            if breaker.allowsAttempt(nowMillis: wallClockMicros() / 1000), spooled > 0 {
                progressed = await replay() || progressed
            }
            if buffer.isFinishedAndEmpty && pending.isEmpty && (spooled == 0 || breaker.state != .closed) {
                if spooled > 0 { logger.warning("stopping with batches still spooled; they are replayed at the next start", metadata: ["records": "\(spooled)"]) }
                return
            }
            if spooled == 0 && pending.isEmpty && breaker.state == .halfOpen { breaker.recordSuccess() }
            counters.breakerOpen.store(breaker.state == .closed ? 0 : 1, ordering: .relaxed)
            counters.spoolFull.store(pending.isEmpty ? 0 : 1, ordering: .relaxed)
            if !progressed { try? await Task.sleep(for: .milliseconds(5)) }
        }
    }

    private func publishSpoolGauges() async {
        counters.spoolRecords.store(spooled, ordering: .relaxed)
        counters.spoolBytes.store(await spool.bytes, ordering: .relaxed)
    }

    /// Moves ``pending`` into the spool if it has room (or makes room under `drop_oldest`).
    private func spoolPending() async -> Bool {
        guard !pending.isEmpty else { return false }
        do {
            while !(try await spool.append(pending)) {
                guard spoolFullPolicy == .dropOldest, spooled > 0 else { return false }
                let oldest = try await spool.peek(max: 1)
                // A batch acknowledged to a client is never dropped: the spool stays full, the
                // buffer fills and HTTP clients get 429 until Redis is back.
                if oldest.first??.acknowledged == true { return false }
                try await spool.consume(1)
                spooled -= 1
                counters.spoolDroppedBatches.add(1, ordering: .relaxed)
                counters.spoolDroppedSamples.add(oldest.first??.sampleCount ?? 0, ordering: .relaxed)
            }
            spooled += pending.count
            counters.batchesSpooled.add(pending.count, ordering: .relaxed)
            for batch in pending { batch.ticket?.batchDurable() }
            await publishSpoolGauges()
            pending = []
            return true
        } catch {
            logger.error("spool write failed", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// Replays the oldest spooled batches; true when some were published.
    private func replay() async -> Bool {
        do {
            let records = try await spool.peek(max: pipeline)
            let batches = records.compactMap { $0 }
            if !batches.isEmpty {
                guard await send(batches) else {
                    breaker.recordFailure(nowMillis: wallClockMicros() / 1000)
                    return false
                }
            }
            breaker.recordSuccess()
            try await spool.consume(records.count)
            spooled -= records.count
            counters.batchesReplayed.add(batches.count, ordering: .relaxed)
            await publishSpoolGauges()
            if spooled == 0 { logger.info("spool replayed: publishing directly again") }
            return true
        } catch {
            logger.error("spool read failed", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// One pipelined round trip; false on any failure (connection or error reply).
    private func send(_ batches: [EncodedBatch]) async -> Bool {
        // No MINID here: retention is the ``StreamTrimmer``'s, on Redis's clock and on a timer
        // (a trim riding on XADD stops exactly when a full Redis refuses XADD).
        let commands = batches.map { batch -> RedisCommand in
            var command: RedisCommand = ["XADD", keys.stream(batch.shard), "*", "v", String(batch.version), "id", batch.id]
            command.append("d")
            command.append(bytes: batch.bytes)
            return command
        }
        do {
            let replies = try await redis.pipeline(commands)
            if let failure = replies.first(where: { if case .error = $0 { true } else { false } }) {
                throw RedisError(.server, "XADD failed: \(failure)")
            }
            for (batch, reply) in zip(batches, replies) {
                logger.debug("batch published", metadata: ["batch_id": "\(batch.id)", "shard": "\(batch.shard)",
                                                           "entry_id": "\(reply.string ?? "")", "samples": "\(batch.sampleCount)"])
            }
            for batch in batches { batch.ticket?.batchDurable() }
            counters.batchesPublished.add(batches.count, ordering: .relaxed)
            counters.samplesPublished.add(batches.reduce(0) { $0 + $1.sampleCount }, ordering: .relaxed)
            return true
        } catch {
            counters.publishErrors.add(1, ordering: .relaxed)
            logger.debug("publishing failed", metadata: ["error": "\(error)"])
            return false
        }
    }
}
