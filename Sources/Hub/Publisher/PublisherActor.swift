import Logging
import Redis
import TelemetryCore

/// Writes batches to their shard streams, pipelined (one `XADD` per batch, up to `pipeline`
/// batches per round trip), behind a circuit breaker.
///
/// While Redis fails, batches go to the on-disk ``Spool`` and keep going there until the spool
/// is replayed, oldest first, once a probe succeeds: order is kept and an outage costs latency,
/// never data. A full spool either holds new batches back (`block`: the bounded buffer fills and
/// the devices wait) or drops its oldest records (`drop_oldest`, counted). A batch written twice
/// (reply lost, or replayed after a crash) is deduplicated downstream by its id.
///
/// With a durability gate (`redis.durable_replicas` n ≥ 1), every pipeline of XADDs ends with
/// `WAIT n timeout`: its batches count as durable only once n replicas acknowledged them. When
/// WAIT times out, they are written to the spool (fsync'd) instead, which makes them durable, and
/// the spool's replay sends them again (with WAIT) until replicas confirm: an asynchronous
/// failover loses no batch a client was told is durable (Docs/high-availability.md).
package actor PublisherActor {
    /// The durability gate: `replicas` 0 is off.
    package struct Durability: Sendable {
        package var replicas: Int
        package var timeoutMillis: Int

        package init(replicas: Int = 0, timeoutMillis: Int = 1000) {
            self.replicas = replicas
            self.timeoutMillis = timeoutMillis
        }
    }

    private let redis: RedisClient
    private let buffer: BoundedBuffer<QueuedBatch>
    private let spool: Spool
    private let keys: RedisKeys
    private let counters: HubCounters
    private let pipeline: Int
    private let durability: Durability
    private let spoolFullPolicy: BufferFullPolicy
    private let logger: Logger
    private var machine: PublisherStateMachine
    /// Batches taken from the buffer that the spool had no room for yet (``PublisherStateMachine/pending`` counts them).
    private var pending: [Outgoing] = []
    private let heartbeat: StageHeartbeat

    package init(redis: RedisClient, buffer: BoundedBuffer<QueuedBatch>, spool: Spool, keys: RedisKeys, counters: HubCounters,
                pipeline: Int, durability: Durability = Durability(), spoolFullPolicy: BufferFullPolicy, breaker: CircuitBreaker, logger: Logger,
                heartbeat: StageHeartbeat = StageHeartbeat(name: "publisher")) {
        self.heartbeat = heartbeat
        self.redis = redis
        self.buffer = buffer
        self.spool = spool
        self.keys = keys
        self.counters = counters
        self.pipeline = pipeline
        self.durability = durability
        self.spoolFullPolicy = spoolFullPolicy
        machine = PublisherStateMachine(breaker: breaker, spooled: 0, spoolFullPolicy: spoolFullPolicy)
        self.logger = logger
    }

    /// The breaker's state name, for status.
    package var breakerState: String { machine.breaker.name }

    /// Publishes until the buffer is finished and empty; on the way out, replays what it can of
    /// the spool (what Redis does not take stays on disk for the next start). Each step is the
    /// ``PublisherStateMachine``'s to choose.
    package func run() async {
        machine = PublisherStateMachine(breaker: machine.breaker, spooled: await spool.count, spoolFullPolicy: spoolFullPolicy)
        await publishSpoolGauges()
        while true {
            heartbeat.beat()
            switch machine.next(nowMillis: wallClockMicros() / 1000, bufferFinishedAndEmpty: buffer.isFinishedAndEmpty) {
            case .publishFromBuffer:
                heartbeat.idle()  // waiting for batches is idle by design
                guard let taken = await buffer.next(max: pipeline) else { return }
                let batches = taken.map(Outgoing.init)
                heartbeat.beat()
                let ok = await send(batches)
                machine.published(ok: ok, batches: batches.count, nowMillis: wallClockMicros() / 1000)
                if ok { counters.spoolFull.store(0, ordering: .relaxed) }
                if !ok {
                    logger.warning("redis unavailable or its replicas did not confirm: circuit breaker open, spooling to disk",
                                   metadata: ["redis": "\(redis.endpoint)"])
                    pending = batches
                }
            case .spoolPending:
                await spoolPending()
            case .takeFromBuffer:
                let batches = buffer.tryNext(max: pipeline) ?? []
                if !batches.isEmpty { pending = batches.map(Outgoing.init) }
                machine.took(batches.count)
            case .replay:
                await replay()
            case .finish(let spooledLeft):
                if spooledLeft > 0 { logger.warning("stopping with batches still spooled; they are replayed at the next start", metadata: ["records": "\(spooledLeft)"]) }
                return
            case .sleep(let wait):
                try? await Task.sleep(for: wait)
            }
            counters.breakerOpen.store(machine.breaker.state == .closed ? 0 : 1, ordering: .relaxed)
        }
    }

    private func publishSpoolGauges() async {
        counters.spoolRecords.store(machine.spooled, ordering: .relaxed)
        counters.spoolBytes.store(await spool.bytes, ordering: .relaxed)
    }

    /// Moves ``pending`` into the spool if it has room (or makes room under `drop_oldest`).
    private func spoolPending() async {
        // Full (readiness says so) only once the spool was tried and could not take them.
        defer { counters.spoolFull.store(pending.isEmpty ? 0 : 1, ordering: .relaxed) }
        do {
            while !(try await spool.append(pending.map(\.encoded))) {
                guard machine.mayDropOldest else { return }
                let oldest = try await spool.peek(max: 1)
                guard machine.dropsOldest(acknowledged: oldest.first??.acknowledged == true) else { return }
                try await spool.consume(1)
                machine.droppedOldest()
                counters.spoolDroppedBatches.add(1, ordering: .relaxed)
                counters.spoolDroppedSamples.add(oldest.first??.sampleCount ?? 0, ordering: .relaxed)
            }
            machine.spooledPending()
            counters.batchesSpooled.add(pending.count, ordering: .relaxed)
            for batch in pending { batch.ticket?.batchDurable() }
            await publishSpoolGauges()
            pending = []
        } catch {
            logger.error("spool write failed", metadata: ["error": "\(error)"])
            machine.resync(spooled: await spool.count)
        }
    }

    /// Replays the oldest spooled batches.
    private func replay() async {
        do {
            let records = try await spool.peek(max: pipeline)
            let batches = records.compactMap { $0.map { Outgoing(encoded: $0, ticket: nil) } }
            if !batches.isEmpty, await !send(batches) {
                machine.replayed(.sendFailed, nowMillis: wallClockMicros() / 1000)
                return
            }
            machine.replaySent()
            try await spool.consume(records.count)
            machine.replayConsumed(records.count)
            counters.batchesReplayed.add(batches.count, ordering: .relaxed)
            await publishSpoolGauges()
            if machine.spooled == 0 { logger.info("spool replayed: publishing directly again") }
        } catch {
            logger.error("spool read failed", metadata: ["error": "\(error)"])
            machine.replayed(.readFailed, nowMillis: wallClockMicros() / 1000)
            machine.resync(spooled: await spool.count)
        }
    }

    /// One pipelined round trip; false on any failure (connection or error reply), and with the
    /// durability gate when fewer replicas than required confirmed within its timeout.
    private func send(_ batches: [Outgoing]) async -> Bool {
        // No MINID here: retention is the ``StreamTrimmer``'s, on Redis's clock and on a timer
        // (a trim riding on XADD stops exactly when a full Redis refuses XADD).
        var commands = batches.map { RedisCommand.streamEntry(key: keys.stream($0.encoded.shard), StreamEntry($0.encoded)) }
        if durability.replicas > 0 { commands.append(["WAIT", String(durability.replicas), String(durability.timeoutMillis)]) }
        do {
            var replies = try await redis.pipeline(commands)
            if let failure = replies.first(where: { if case .error = $0 { true } else { false } }) {
                throw RedisError(.server, "XADD failed: \(failure)")
            }
            if durability.replicas > 0 {
                let confirmed = replies.removeLast().int ?? 0
                guard confirmed >= durability.replicas else {
                    counters.unconfirmedRoundTrips.add(1, ordering: .relaxed)
                    throw RedisError(.server, "WAIT: \(confirmed) of \(durability.replicas) replicas confirmed within \(durability.timeoutMillis) ms")
                }
            }
            for (batch, reply) in zip(batches, replies) {
                logger.debug("batch published", metadata: ["batch_id": "\(batch.encoded.id)", "shard": "\(batch.encoded.shard)",
                                                           "entry_id": "\(reply.string ?? "")", "samples": "\(batch.encoded.sampleCount)"])
            }
            for batch in batches { batch.ticket?.batchDurable() }
            counters.batchesPublished.add(batches.count, ordering: .relaxed)
            counters.samplesPublished.add(batches.reduce(0) { $0 + $1.encoded.sampleCount }, ordering: .relaxed)
            return true
        } catch {
            counters.publishErrors.add(1, ordering: .relaxed)
            logger.debug("publishing failed", metadata: ["error": "\(error)"])
            return false
        }
    }
}

/// A batch being published: encoded, with the durability ticket of its HTTP request (nil for
/// device batches and for batches read back from the spool, which the spool made durable).
private struct Outgoing: Sendable {
    let encoded: EncodedBatch
    let ticket: DurabilityTicket?

    init(encoded: EncodedBatch, ticket: DurabilityTicket?) {
        self.encoded = encoded
        self.ticket = ticket
    }

    init(_ queued: QueuedBatch) {
        self.init(encoded: EncodedBatch(queued.batch), ticket: queued.ticket)
    }
}
