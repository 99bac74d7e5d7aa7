import Logging
import Redis
import ServiceLifecycle
import TelemetryCore

/// Reads the hub's shard streams through the consumer group and the compatibility task list, and
/// routes every item to the worker that owns its device (`shard(device) % workers`).
///
/// Each shard stream is read by one processor at a time, the holder of its lease
/// (`telemetry:lease:<n>`, `SET NX PX`, renewed by ``maintain()``); taking a lease over claims the
/// shard's pending entries (`XPENDING … IDLE`, `XCLAIM`) before new ones (`>`) are read. At start the consumer
/// also re-processes what its previous run left in its compatibility processing list.
package actor ConsumerActor {
    let reader: RedisClient
    let control: RedisClient
    let queues: [BoundedBuffer<WorkItem>]
    let configuration: ProcessorConfiguration
    let counters: ProcessorCounters
    let logger: Logger
    let router: ShardRouter
    /// Which shards this consumer holds, has just taken over, and reads.
    var leases: LeaseBook

    let heartbeat: StageHeartbeat
    let faults: FaultSwitches
    let inFlight: InFlight
    var lastStrandedCheck = ContinuousClock.now
    /// Copies of tasks seen in this consumer's processing list with no worker holding them, since when.
    var strandedTasks: [UInt64: ContinuousClock.Instant] = [:]
    /// Told what `stream_positions` held at each new storage connection (nil: no re-reading after
    /// a failover; see ConsumerActor+Rewind).
    let positionBook: StreamPositionBook?
    /// Reads and updates `stream_positions` for the checks.
    let positionStorage: StorageActor?
    /// Streams whose committed position was written on an older timeline, to re-read from there.
    var behind: [String: StreamID] = [:]

    package init(reader: RedisClient, control: RedisClient, queues: [BoundedBuffer<WorkItem>],
                configuration: ProcessorConfiguration, counters: ProcessorCounters, logger: Logger,
                heartbeat: StageHeartbeat = StageHeartbeat(name: "consumer"), faults: FaultSwitches = FaultSwitches(),
                inFlight: InFlight = InFlight(), positionBook: StreamPositionBook? = nil, positionStorage: StorageActor? = nil) {
        self.inFlight = inFlight
        self.positionBook = positionBook
        self.positionStorage = positionStorage
        self.heartbeat = heartbeat
        self.faults = faults
        self.reader = reader
        self.control = control
        self.queues = queues
        self.configuration = configuration
        self.counters = counters
        self.logger = logger
        self.router = ShardRouter(shards: configuration.shards)
        leases = LeaseBook(me: configuration.consumer.name, takeoverIdleMillis: configuration.lease.ttlMillis - configuration.lease.renewMillis)
    }

    /// Creates the consumer group on every shard stream (from the start of the stream, so nothing
    /// the hub wrote before the group existed is skipped).
    /// Returns how many groups were created (not already there).
    @discardableResult
    package func createGroups() async throws(RedisError) -> Int {
        var created = 0
        for shard in 0..<configuration.shards {
            let reply = try await control.pipeline([["XGROUP", "CREATE", configuration.redis.keys.stream(shard), configuration.consumer.group, "0", "MKSTREAM"]])[0]
            if case .error(let message) = reply {
                guard message.hasPrefix("BUSYGROUP") else { throw RedisError(.server, "XGROUP CREATE failed: \(message)") }
            } else {
                created += 1
            }
        }
        return created
    }

    /// Recreates consumer groups Redis lost (`NOGROUP`: a FLUSHALL, a restart without AOF, a
    /// promoted replica without the group), from the start of each stream, and says what may be
    /// gone: the entries undelivered or pending at the last probe.
    package func recreateLostGroups() async {
        let before = counters.shards
        do {
            let created = try await createGroups()
            guard created > 0 else { return }
            counters.groupsRecreated.add(created, ordering: .relaxed)
            let atRisk = before.reduce(0) { $0 + ($1.lag ?? 0) + $1.pending }
            counters.entriesPossiblyLost.add(atRisk, ordering: .relaxed)
            logger.error("the consumer group was missing (Redis lost it: FLUSHALL, a restart without AOF, a failover); recreated from the start of each stream",
                         metadata: ["groups": "\(created)", "entries_at_risk": "\(atRisk)",
                                    "note": "entries the streams lost before they were processed cannot be recovered from Redis"])
        } catch {
            logger.warning("cannot recreate the consumer group yet", metadata: ["error": "\(error)"])
        }
    }

    /// Reads and dispatches until graceful shutdown (the service then finishes the worker queues).
    package func run() async {
        await recoverOwnTasks()
        var backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(5))
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            if faults.stallRequested {
                // Test-only: make no progress (no heartbeat), but still honour shutdown.
                try? await Task.sleep(for: .milliseconds(100))
                continue
            }
            heartbeat.beat()
            do {
                try await claimAcquired()
                if !adopted.isEmpty {
                    let tasks = adopted
                    adopted = []
                    await dispatchCompat(tasks, careful: true)
                }
                try await rewindIfBehind()
                try await redeliverStranded()
                let moved = try await pullCompatTasksUnlessRefused()
                let reading = leases.reading
                if reading.isEmpty {
                    if moved == 0 { try? await Task.sleep(for: .milliseconds(configuration.consumer.blockMillis)) }
                } else {
                    _ = try await readStreams(reading, block: moved < configuration.compatWindow)
                }
                backoff.reset()
            } catch where "\(error)".contains("NOGROUP") {
                await recreateLostGroups()
            } catch {
                let wait = backoff.next()
                logger.warning("redis unavailable, consumption paused", metadata: ["error": "\(error)", "retry_in": "\(wait)"])
                try? await Task.sleep(for: wait)
            }
        }
        logger.info("consumer stopped reading; workers are draining")
    }

    /// ``pullCompatTasks()``, except that Redis refusing the move (`LMOVE` is denied at
    /// `maxmemory`, OOM) does not stop the stream reads: those do not need memory, and draining
    /// the streams into PostgreSQL is how the pipeline gets out of that state.
    func pullCompatTasksUnlessRefused() async throws(RedisError) -> Int {
        do {
            let moved = try await pullCompatTasks()
            if compatRefused {
                compatRefused = false
                logger.info("redis takes the compatibility task moves again")
            }
            return moved
        } catch where error.code == .server && !error.message.hasPrefix("NOGROUP") {
            if !compatRefused {
                compatRefused = true
                logger.error("redis refuses to move compatibility tasks (the stream entries are still read)", metadata: ["error": "\(error)"])
            }
            return 0
        }
    }

    /// Moves a window of compatibility tasks into the processing list and dispatches them,
    /// highest priority first (FIFO within a priority). Returns how many were moved.
    ///
    /// Each task moves with one `LMOVE` (atomic: a crash cannot lose it between the lists); the
    /// window is pipelined. No Lua: a script copying a 10 MB task would stall Redis for everyone.
    func pullCompatTasks() async throws(RedisError) -> Int {
        let keys = configuration.redis.keys
        let move: RedisCommand = ["LMOVE", keys.tasks, keys.processing(configuration.consumer.name), "LEFT", "RIGHT"]
        guard let first = try await control.send(move).bytes else { return 0 }
        var tasks = [first]
        if configuration.compatWindow > 1 {
            let replies = try await control.pipeline(Array(repeating: move, count: configuration.compatWindow - 1))
            tasks += replies.compactMap(\.bytes)
        }
        await dispatchCompat(tasks, careful: false)
        return tasks.count
    }

    /// Routes tasks to the workers of their devices, highest priority first.
    ///
    /// With `careful` (work redelivered after a crash: a previous run's processing list, stranded
    /// tasks) the tasks go one at a time, each counted as a delivery (``RedisKeys/deliveries``)
    /// just before it is handed over and waited for until acknowledged. A crash then counts
    /// against the one task in progress only, never against the innocent tasks queued beside it,
    /// and a task counted past `consumer.max_deliveries` is dead-lettered as `poison`.
    func dispatchCompat(_ tasks: [[UInt8]], careful: Bool) async {
        guard !tasks.isEmpty else { return }
        counters.compatTasksRead.add(tasks.count, ordering: .relaxed)
        var items: [(priority: Int, order: Int, worker: Int, item: WorkItem)] = []
        for (order, raw) in tasks.enumerated() {
            inFlight.add(task: raw)
            do {
                let task = try TelemetryTaskCodec.decode(raw, maxFields: configuration.validation.maxFields)
                let worker = router.shard(of: task.deviceID) % queues.count
                items.append((task.priority.rawValue, order, worker, WorkItem(source: .compat(raw: raw), payload: .task(task))))
            } catch {
                let item = WorkItem(source: .compat(raw: raw), payload: .undecodable(error, raw: raw, sourceID: TelemetryTaskCodec.salvageID(raw)))
                items.append((TelemetryTask.Priority.normal.rawValue, order, 0, item))
            }
        }
        items.sort { $0.priority != $1.priority ? $0.priority > $1.priority : $0.order < $1.order }
        for entry in items {
            // Shutting down: what is not handed over stays in the processing list for the next start.
            if careful && (Task.isShuttingDownGracefully || Task.isCancelled) {
                inFlight.finished([entry.item.source])
                continue
            }
            guard careful, case .compat(let raw) = entry.item.source else {
                await deliver(entry.item, to: entry.worker)
                continue
            }
            let deliveries = await countDelivery(raw)
            if isPoison(deliveries: deliveries) {
                let item = WorkItem(source: entry.item.source,
                                    payload: .undecodable(poison(deliveries: deliveries), raw: raw, sourceID: TelemetryTaskCodec.salvageID(raw)))
                await deliver(item, to: entry.worker)
            } else {
                let hash = FNV1a.hash64(bytes: raw)
                let copies = inFlight.count(taskHash: hash)
                await deliver(entry.item, to: entry.worker)
                await heartbeat.waiting { await waitUntil { self.inFlight.count(taskHash: hash) < copies } }
            }
        }
    }

    /// Counts one more delivery of a task (`HINCRBY` on ``RedisKeys/deliveries``). When Redis
    /// does not answer it counts as delivered once: the task is safe in the processing list.
    func countDelivery(_ raw: [UInt8]) async -> Int {
        (try? await control.send(["HINCRBY", configuration.redis.keys.deliveries, Self.deliveryField(raw), "1"]))?.int ?? 1
    }

    /// Polls `done` until it holds (or the consumer is cancelled).
    func waitUntil(_ done: @Sendable () -> Bool) async {
        while !done() && !Task.isCancelled { try? await Task.sleep(for: .milliseconds(2)) }
    }

    /// Tasks a dead consumer left, moved into this consumer's processing list by maintenance, to
    /// be dispatched one at a time by the read loop (redelivered work, like a previous run's).
    var adopted: [[UInt8]] = []
    /// Redis refused the last compatibility task move with an error reply (logged once per episode).
    var compatRefused = false
    /// Redis refused the last heartbeat `SET` with an error reply (logged once per episode).
    var heartbeatRefused = false

    /// The field of a task in ``RedisKeys/deliveries``: FNV-1a-64 of its bytes, in hex.
    static func deliveryField(_ raw: [UInt8]) -> String { String(FNV1a.hash64(bytes: raw), radix: 16) }

    /// Delivered more than `consumer.max_deliveries` times while PostgreSQL answers: redeliveries
    /// during an outage (restarts waiting for the database) do not make an input poison.
    func isPoison(deliveries: Int) -> Bool {
        deliveries > configuration.consumer.maxDeliveries && counters.postgresReachable.load(ordering: .relaxed) == 1
    }

    func poison(deliveries: Int) -> TelemetryError {
        counters.poisoned.add(1, ordering: .relaxed)
        logger.error("quarantining an input delivered too often (it keeps failing or crashing its processor)",
                     metadata: ["deliveries": "\(deliveries)", "max_deliveries": "\(configuration.consumer.maxDeliveries)"])
        return TelemetryError(.poison, "delivered \(deliveries) times, more than consumer.max_deliveries (\(configuration.consumer.maxDeliveries)); "
                              + "it kept failing or crashing its processor, so it is quarantined here untried")
    }

    /// Queues `item` for `worker`; waiting on a full queue is backpressure, not a stall.
    func deliver(_ item: WorkItem, to worker: Int) async {
        _ = await heartbeat.waiting { await queues[worker].push(item) }
    }

    /// One `XREADGROUP` over `shards`; returns the number of entries dispatched.
    func readStreams(_ reading: Set<Int>, block: Bool) async throws(RedisError) -> Int {
        let shards = reading.sorted()
        var command: RedisCommand = ["XREADGROUP", "GROUP", configuration.consumer.group, configuration.consumer.name,
                                     "COUNT", String(configuration.consumer.readCount)]
        if block {
            command.append("BLOCK")
            command.append(String(configuration.consumer.blockMillis))
        }
        command.append("STREAMS")
        for shard in shards { command.append(configuration.redis.keys.stream(shard)) }
        for _ in shards { command.append(">") }
        let reply = try await reader.send(command)
        guard let streams = reply.array else { return 0 }
        var dispatched = 0
        for stream in streams {
            guard let pair = stream.array, pair.count == 2, let key = pair[0].string, let entries = pair[1].array,
                  let shard = shardOf(key) else { continue }
            dispatched += await dispatchEntries(entries, shard: shard)
        }
        return dispatched
    }

    /// Routes stream entries (`[id, [field, value, …]]`) of `shard` to the shard's worker. An entry
    /// whose delivery count (from `XPENDING`, for re-delivered entries) exceeds
    /// `consumer.max_deliveries` goes to the dead letters as `poison` instead.
    func dispatchEntries(_ entries: [RESPValue], shard: Int, deliveries: [String: Int] = [:]) async -> Int {
        var dispatched = 0
        for entry in entries {
            guard let parts = entry.array, parts.count == 2, let id = parts[0].string else { continue }
            dispatched += 1
            counters.entriesRead.add(1, ordering: .relaxed)
            let source = WorkItem.Source.stream(shard: shard, entryID: id)
            inFlight.add(shard: shard, entry: id)
            guard let fields = parts[1].array else {
                // A pending entry trimmed from the stream: nothing left to process.
                logger.warning("pending entry no longer in the stream, acknowledging", metadata: ["shard": "\(shard)", "entry": "\(id)"])
                _ = try? await control.send(["XACK", configuration.redis.keys.stream(shard), configuration.consumer.group, id])
                inFlight.finished([source])
                continue
            }
            let entry = StreamEntry(fields: stride(from: 0, to: fields.count - 1, by: 2).map { (fields[$0].string, fields[$0 + 1].bytes) })
            let (version, data) = (entry.version, entry.data)
            let item: WorkItem
            if let count = deliveries[id], isPoison(deliveries: count) {
                item = WorkItem(source: source, payload: .undecodable(poison(deliveries: count), raw: data ?? [], sourceID: id))
            } else if let data {
                item = WorkItem(source: source, payload: .hubBatch(version: version, bytes: data))
            } else {
                item = WorkItem(source: source, payload: .undecodable(TelemetryError(.missingField, "stream entry has no d field"), raw: [], sourceID: id))
            }
            await deliver(item, to: shard % queues.count)
        }
        return dispatched
    }

    func shardOf(_ key: String) -> Int? {
        configuration.redis.keys.shard(ofStream: key)
    }

}

extension ConsumerActor {
    /// The queues as Redis holds them, read on the control connection.
    package func queueState() async throws(RedisError) -> QueueState {
        try await control.queueState(keys: configuration.redis.keys, shards: configuration.shards, group: configuration.consumer.group)
    }
}
