import Logging
public import Redis
import ServiceLifecycle
public import TelemetryCore

/// Reads the hub's shard streams through the consumer group and the compatibility task list, and
/// routes every item to the worker that owns its device (`shard(device) % workers`).
///
/// Each shard stream is read by one processor at a time, the holder of its lease
/// (`telemetry:lease:<n>`, `SET NX PX`, renewed by ``maintain()``); taking a lease over claims the
/// shard's pending entries (`XPENDING … IDLE`, `XCLAIM`) before new ones (`>`) are read. At start the consumer
/// also re-processes what its previous run left in its compatibility processing list.
public actor ConsumerActor {
    private let reader: RedisClient
    private let control: RedisClient
    private let queues: [BoundedBuffer<WorkItem>]
    private let configuration: ProcessorConfiguration
    private let counters: ProcessorCounters
    private let logger: Logger
    private let router: ShardRouter
    private var owned: Set<Int> = []

    /// Extends a lease only if this consumer still owns it.
    static let renewScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
        return 0
        """

    /// Deletes a lease only if this consumer owns it.
    static let releaseScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """

    /// Moves a dead consumer's processing list into this consumer's, in order, and returns the
    /// tasks: they are redelivered work (maybe the very task that killed it), so they are
    /// dispatched one at a time and counted, like a previous run's.
    static let requeueScript = """
        if redis.call('EXISTS', KEYS[2]) == 1 then return {} end
        local items = redis.call('LRANGE', KEYS[1], 0, -1)
        for i = 1, #items do redis.call('RPUSH', KEYS[3], items[i]) end
        redis.call('DEL', KEYS[1])
        return items
        """

    private let heartbeat: StageHeartbeat
    private let faults: FaultSwitches
    private let inFlight: InFlight
    /// Shards whose lease was just acquired, with the minimum idle time of the claim of their
    /// pending entries; they are read (`>`) only once that claim is done, so older entries go first.
    private var toClaim: [Int: Int] = [:]
    private var lastStrandedCheck = ContinuousClock.now
    /// Copies of tasks seen in this consumer's processing list with no worker holding them, since when.
    private var strandedTasks: [UInt64: ContinuousClock.Instant] = [:]

    public init(reader: RedisClient, control: RedisClient, queues: [BoundedBuffer<WorkItem>],
                configuration: ProcessorConfiguration, counters: ProcessorCounters, logger: Logger,
                heartbeat: StageHeartbeat = StageHeartbeat(name: "consumer"), faults: FaultSwitches = FaultSwitches(),
                inFlight: InFlight = InFlight()) {
        self.inFlight = inFlight
        self.heartbeat = heartbeat
        self.faults = faults
        self.reader = reader
        self.control = control
        self.queues = queues
        self.configuration = configuration
        self.counters = counters
        self.logger = logger
        self.router = ShardRouter(shards: configuration.shards)
    }

    /// Creates the consumer group on every shard stream (from the start of the stream, so nothing
    /// the hub wrote before the group existed is skipped).
    /// Returns how many groups were created (not already there).
    @discardableResult
    public func createGroups() async throws(RedisError) -> Int {
        var created = 0
        for shard in 0..<configuration.shards {
            let reply = try await control.pipeline([["XGROUP", "CREATE", configuration.keys.stream(shard), configuration.group, "0", "MKSTREAM"]])[0]
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
    public func recreateLostGroups() async {
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
    public func run() async {
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
                try await redeliverStranded()
                let moved = try await pullCompatTasksUnlessRefused()
                let reading = owned.subtracting(toClaim.keys)
                if reading.isEmpty {
                    if moved == 0 { try? await Task.sleep(for: .milliseconds(configuration.blockMillis)) }
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

    /// Re-dispatches the tasks left in this consumer's processing list by a previous run.
    private func recoverOwnTasks() async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let raw = try await control.send(["LRANGE", configuration.keys.processing(configuration.consumerName), "0", "-1"])
                let tasks = (raw.array ?? []).compactMap(\.bytes)
                if !tasks.isEmpty {
                    logger.info("re-processing tasks left in the processing list, one at a time", metadata: ["count": "\(tasks.count)"])
                }
                await dispatchCompat(tasks, careful: true)
                return
            } catch {
                logger.warning("redis unavailable while recovering pending tasks", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// ``pullCompatTasks()``, except that Redis refusing the move (`LMOVE` is denied at
    /// `maxmemory`, OOM) does not stop the stream reads: those do not need memory, and draining
    /// the streams into PostgreSQL is how the pipeline gets out of that state.
    private func pullCompatTasksUnlessRefused() async throws(RedisError) -> Int {
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
    private func pullCompatTasks() async throws(RedisError) -> Int {
        let keys = configuration.keys
        let move: RedisCommand = ["LMOVE", keys.tasks, keys.processing(configuration.consumerName), "LEFT", "RIGHT"]
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
    private func dispatchCompat(_ tasks: [[UInt8]], careful: Bool) async {
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
    private func countDelivery(_ raw: [UInt8]) async -> Int {
        (try? await control.send(["HINCRBY", configuration.keys.deliveries, Self.deliveryField(raw), "1"]))?.int ?? 1
    }

    /// Polls `done` until it holds (or the consumer is cancelled).
    private func waitUntil(_ done: @Sendable () -> Bool) async {
        while !done() && !Task.isCancelled { try? await Task.sleep(for: .milliseconds(2)) }
    }

    /// Tasks a dead consumer left, moved into this consumer's processing list by maintenance, to
    /// be dispatched one at a time by the read loop (redelivered work, like a previous run's).
    private var adopted: [[UInt8]] = []
    /// Redis refused the last compatibility task move with an error reply (logged once per episode).
    private var compatRefused = false
    /// Redis refused the last heartbeat `SET` with an error reply (logged once per episode).
    private var heartbeatRefused = false

    /// The field of a task in ``RedisKeys/deliveries``: FNV-1a-64 of its bytes, in hex.
    static func deliveryField(_ raw: [UInt8]) -> String { String(FNV1a.hash64(bytes: raw), radix: 16) }

    /// Delivered more than `consumer.max_deliveries` times while PostgreSQL answers: redeliveries
    /// during an outage (restarts waiting for the database) do not make an input poison.
    private func isPoison(deliveries: Int) -> Bool {
        deliveries > configuration.maxDeliveries && counters.postgresReachable.load(ordering: .relaxed) == 1
    }

    private func poison(deliveries: Int) -> TelemetryError {
        counters.poisoned.add(1, ordering: .relaxed)
        logger.error("quarantining an input delivered too often (it keeps failing or crashing its processor)",
                     metadata: ["deliveries": "\(deliveries)", "max_deliveries": "\(configuration.maxDeliveries)"])
        return TelemetryError(.poison, "delivered \(deliveries) times, more than consumer.max_deliveries (\(configuration.maxDeliveries)); "
                              + "it kept failing or crashing its processor, so it is quarantined here untried")
    }

    /// Queues `item` for `worker`; waiting on a full queue is backpressure, not a stall.
    private func deliver(_ item: WorkItem, to worker: Int) async {
        await heartbeat.waiting { await queues[worker].push(item) }
    }

    /// One `XREADGROUP` over `shards`; returns the number of entries dispatched.
    private func readStreams(_ reading: Set<Int>, block: Bool) async throws(RedisError) -> Int {
        let shards = reading.sorted()
        var command: RedisCommand = ["XREADGROUP", "GROUP", configuration.group, configuration.consumerName,
                                     "COUNT", String(configuration.readCount)]
        if block {
            command.append("BLOCK")
            command.append(String(configuration.blockMillis))
        }
        command.append("STREAMS")
        for shard in shards { command.append(configuration.keys.stream(shard)) }
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
    private func dispatchEntries(_ entries: [RESPValue], shard: Int, deliveries: [String: Int] = [:]) async -> Int {
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
                _ = try? await control.send(["XACK", configuration.keys.stream(shard), configuration.group, id])
                inFlight.finished([source])
                continue
            }
            var version: String?
            var data: [UInt8]?
            var index = 0
            while index + 1 < fields.count {
                switch fields[index].string {
                case "v": version = fields[index + 1].string
                case "d": data = fields[index + 1].bytes
                default: break
                }
                index += 2
            }
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

    private func shardOf(_ key: String) -> Int? {
        let prefix = configuration.keys.stream(0).dropLast(1)
        guard key.hasPrefix(prefix) else { return nil }
        return Int(key.dropFirst(prefix.count))
    }

    /// One maintenance round: refresh the heartbeat, renew, balance and take over shard leases,
    /// and re-queue the processing lists of consumers whose heartbeat expired. It never waits on
    /// the worker queues: the read loop claims a taken-over shard's pending entries.
    public func maintain() async throws(RedisError) {
        let keys = configuration.keys
        let me = configuration.consumerName
        let ttl = String(configuration.leaseTTLMillis)
        do {
            try await control.send(["SET", keys.heartbeat(me), String(wallClockMicros() / 1000), "PX", ttl])
            heartbeatRefused = false
        } catch where error.code == .server {
            // SET is refused at maxmemory (OOM) but PEXPIRE is not: keep the heartbeat and the
            // leases alive (renewals are PEXPIREs too) instead of letting other processors take
            // over shards this one is still reading. Acquisitions (SET NX) wait for memory.
            try await control.send(["PEXPIRE", keys.heartbeat(me), ttl])
            if !heartbeatRefused {
                heartbeatRefused = true
                logger.error("redis refuses the consumer heartbeat SET; extending it and the leases instead", metadata: ["error": "\(error)"])
            }
        }
        let live = try await scan(pattern: keys.heartbeatPattern).count
        var owners = (try await control.send(RedisCommand(["MGET"] + (0..<configuration.shards).map(keys.lease))).array ?? [])
            .map(\.string)
        guard owners.count == configuration.shards else { throw RedisError(.protocolError, "MGET returned \(owners.count) values") }
        // Renew what is ours; forget what is not ours any more.
        let mine = owned.sorted()
        let renewals = mine.isEmpty ? [] : try await control.pipeline(mine.map { ["EVAL", Self.renewScript, "1", keys.lease($0), me, ttl] })
        for (shard, reply) in zip(mine, renewals) where reply.int != 1 {
            owned.remove(shard)
            toClaim[shard] = nil
            logger.warning("lost the lease of a shard", metadata: ["shard": "\(shard)"])
        }
        var leftByPreviousRun = Set<Int>()
        for (shard, owner) in owners.enumerated() where owner == me && !owned.contains(shard) {
            owners[shard] = nil  // left by a previous run of this consumer: take it over properly
            leftByPreviousRun.insert(shard)
        }
        let plan = LeaseBalancer(shards: configuration.shards).plan(owners: owners, me: me, liveConsumers: live)
        for shard in plan.release {
            try await control.send(["EVAL", Self.releaseScript, "1", keys.lease(shard), me])
            owned.remove(shard)
            toClaim[shard] = nil
            logger.info("released a shard lease to rebalance", metadata: ["shard": "\(shard)", "live_processors": "\(live)"])
        }
        for shard in plan.acquire {
            let reply = try await control.send(["SET", keys.lease(shard), me, "PX", ttl, "NX"])
            if reply.string != "OK" {
                guard try await control.send(["GET", keys.lease(shard)]).string == me else { continue }
                try await control.send(["PEXPIRE", keys.lease(shard), ttl])
            }
            // The claim runs in the read loop, never here: waiting on full worker queues (a slow
            // PostgreSQL) must not delay lease renewals. Another consumer's entries are claimed
            // once idle for the lease's expiry window (it stopped renewing that long ago), so work a
            // live consumer was just handed is not taken from it.
            owned.insert(shard)
            toClaim[shard] = leftByPreviousRun.contains(shard) ? 0 : configuration.leaseTTLMillis - configuration.leaseRenewMillis
            logger.info("acquired a shard lease", metadata: ["shard": "\(shard)"])
        }
        for key in try await scan(pattern: keys.processingPattern) {
            let consumer = String(key.dropFirst(keys.processing("").count))
            guard consumer != me else { continue }
            let moved = (try await control.send(["EVAL", Self.requeueScript, "3", key, keys.heartbeat(consumer), keys.processing(me)]).array ?? [])
                .compactMap(\.bytes)
            if !moved.isEmpty {
                adopted += moved
                logger.warning("took over the tasks of a dead consumer", metadata: ["consumer": "\(consumer)", "count": "\(moved.count)"])
            }
        }
    }

    /// Gives up every lease and the heartbeat (after the workers drained), so survivors take over at once.
    public func releaseAll() async {
        let keys = configuration.keys
        let me = configuration.consumerName
        var commands: [RedisCommand] = owned.sorted().map { ["EVAL", Self.releaseScript, "1", keys.lease($0), me] }
        commands.append(["DEL", keys.heartbeat(me)])
        _ = try? await control.pipeline(commands)
        owned.removeAll()
    }

    /// Claims the pending entries of shards just acquired, in shard order; each shard is read
    /// once its claim is done.
    private func claimAcquired() async throws(RedisError) {
        for (shard, minIdle) in toClaim.sorted(by: { $0.key < $1.key }) {
            guard !Task.isShuttingDownGracefully && !Task.isCancelled else { return }
            let claimed = try await claimPending(shard: shard, minIdle: minIdle)
            toClaim[shard] = nil
            if claimed > 0 { logger.info("claimed the pending entries of an acquired shard", metadata: ["shard": "\(shard)", "claimed": "\(claimed)"]) }
        }
    }

    /// Every `consumer.claim_interval_ms`: delivers again the work that is pending in Redis but
    /// that no worker holds, once idle for `consumer.claim_idle_ms` (a lost `XREADGROUP` or `LMOVE`
    /// reply leaves it stranded until the next start otherwise).
    private func redeliverStranded() async throws(RedisError) {
        let now = ContinuousClock.now
        guard now - lastStrandedCheck >= .milliseconds(configuration.claimIntervalMillis) else { return }
        lastStrandedCheck = now
        for shard in owned.sorted() where toClaim[shard] == nil {
            let claimed = try await claimPending(shard: shard, minIdle: configuration.claimIdleMillis)
            if claimed > 0 {
                counters.strandedRedelivered.add(claimed, ordering: .relaxed)
                logger.warning("delivered stranded pending entries again", metadata: ["shard": "\(shard)", "entries": "\(claimed)"])
            }
        }
        let listed = (try await control.send(["LRANGE", configuration.keys.processing(configuration.consumerName), "0", "-1"]).array ?? []).compactMap(\.bytes)
        var copies: [UInt64: Int] = [:]
        var stillStranded: [UInt64: ContinuousClock.Instant] = [:]
        var again: [[UInt8]] = []
        for raw in listed {
            let hash = FNV1a.hash64(bytes: raw)
            copies[hash, default: 0] += 1
            guard copies[hash]! > inFlight.count(taskHash: hash) else { continue }  // a worker holds it
            let since = strandedTasks[hash] ?? now
            if now - since >= .milliseconds(configuration.claimIdleMillis) {
                again.append(raw)
            } else {
                stillStranded[hash] = since
            }
        }
        strandedTasks = stillStranded
        if !again.isEmpty {
            counters.strandedRedelivered.add(again.count, ordering: .relaxed)
            logger.warning("delivered stranded tasks of the processing list again", metadata: ["tasks": "\(again.count)"])
            await dispatchCompat(again, careful: true)
        }
    }

    /// Claims the entries of `shard` pending (for any consumer, this one's previous run included)
    /// for at least `minIdle` ms that no worker of this process holds, and dispatches them in id
    /// order, one at a time, with their delivery counts (`XPENDING … IDLE`, then `XCLAIM`). Entries deleted from
    /// the stream before they were processed are counted and logged as trimmed unread. Returns
    /// how many were dispatched.
    private func claimPending(shard: Int, minIdle: Int) async throws(RedisError) -> Int {
        let key = configuration.keys.stream(shard)
        var start = "-"
        var claimed = 0
        while true {
            let rows = try await control.send(["XPENDING", key, configuration.group, "IDLE", String(minIdle), start, "+",
                                               String(configuration.readCount)]).array ?? []
            var candidates: [String] = []
            var deliveries: [String: Int] = [:]
            for row in rows {
                guard let fields = row.array, fields.count >= 4, let id = fields[0].string else { continue }
                start = "(" + id
                guard !inFlight.contains(shard: shard, entry: id) else { continue }
                candidates.append(id)
                deliveries[id] = (fields[3].int ?? 0) + 1  // this claim is one more delivery
            }
            // One at a time, each waited for until acknowledged: redelivered work is where a
            // crash-causing input hides, and a crash must count against that entry alone (its
            // delivery count grows with each claim; the entries behind it are not claimed yet).
            for id in candidates {
                guard !Task.isShuttingDownGracefully && !Task.isCancelled else { return claimed }
                let entries = try await control.send(["XCLAIM", key, configuration.group, configuration.consumerName, String(minIdle), id]).array ?? []
                guard !entries.isEmpty else {
                    // Not claimed: deleted from the stream (Redis drops it from the PEL), or taken by
                    // another consumer meanwhile. Only a deleted one is data lost upstream.
                    if (try await control.send(["XRANGE", key, id, id]).array ?? []).isEmpty {
                        counters.trimmedUnread.add(1, ordering: .relaxed)
                        logger.error("a pending entry was deleted from the stream before it was processed (trimmed unread)",
                                     metadata: ["shard": "\(shard)", "entry": "\(id)"])
                        _ = try await control.send(["XACK", key, configuration.group, id])
                    }
                    continue
                }
                claimed += await dispatchEntries(entries, shard: shard, deliveries: deliveries)
                await heartbeat.waiting { await waitUntil { !self.inFlight.contains(shard: shard, entry: id) } }
            }
            if rows.count < configuration.readCount { break }
        }
        return claimed
    }

    private func scan(pattern: String) async throws(RedisError) -> [String] {
        var cursor = "0"
        var keys: [String] = []
        repeat {
            let reply = try await control.send(["SCAN", cursor, "MATCH", pattern, "COUNT", "500"])
            guard let parts = reply.array, parts.count == 2 else { break }
            cursor = parts[0].string ?? "0"
            keys += (parts[1].array ?? []).compactMap(\.string)
        } while cursor != "0"
        return keys
    }
}

extension ConsumerActor {
    /// The queues as Redis holds them, read on the control connection.
    public func queueState() async throws(RedisError) -> QueueState {
        try await control.queueState(keys: configuration.keys, shards: configuration.shards, group: configuration.group)
    }
}
