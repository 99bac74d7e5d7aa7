import Logging
public import Redis
import ServiceLifecycle
public import TelemetryCore

/// Reads the hub's shard streams through the consumer group and the compatibility task list, and
/// routes every item to the worker that owns its device (`shard(device) % workers`).
///
/// At start it first re-reads this consumer's own pending entries (id `0`: work a previous run of
/// the same consumer read but never acknowledged) and its processing list, then new entries (`>`).
public actor ConsumerActor {
    private let reader: RedisClient
    private let control: RedisClient
    private let queues: [BoundedBuffer<WorkItem>]
    private let configuration: ProcessorConfiguration
    private let counters: ProcessorCounters
    private let logger: Logger
    private let router: ShardRouter

    /// Moves up to ARGV[1] tasks from the head of the task list to the processing list, atomically.
    static let moveScript = """
        local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
        if #items > 0 then
            redis.call('LTRIM', KEYS[1], #items, -1)
            redis.call('RPUSH', KEYS[2], unpack(items))
        end
        return items
        """

    /// Puts a dead consumer's processing list back at the head of the task list, in order.
    static let requeueScript = """
        if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
        local items = redis.call('LRANGE', KEYS[1], 0, -1)
        for i = #items, 1, -1 do redis.call('LPUSH', KEYS[3], items[i]) end
        redis.call('DEL', KEYS[1])
        return #items
        """

    public init(reader: RedisClient, control: RedisClient, queues: [BoundedBuffer<WorkItem>],
                configuration: ProcessorConfiguration, counters: ProcessorCounters, logger: Logger) {
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
    public func createGroups() async throws(RedisError) {
        for shard in 0..<configuration.shards {
            let reply = try await control.pipeline([["XGROUP", "CREATE", configuration.keys.stream(shard), configuration.group, "0", "MKSTREAM"]])[0]
            if case .error(let message) = reply, !message.hasPrefix("BUSYGROUP") {
                throw RedisError(.server, "XGROUP CREATE failed: \(message)")
            }
        }
    }

    /// Reads and dispatches until graceful shutdown, then finishes the worker queues.
    public func run() async {
        defer { for queue in queues { queue.finish() } }
        await recoverOwnWork()
        var backoff = Duration.milliseconds(100)
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let moved = try await pullCompatTasks()
                let read = try await readStreams(ids: ">", block: moved < configuration.compatWindow)
                _ = read
                backoff = .milliseconds(100)
            } catch {
                logger.warning("redis unavailable, consumption paused", metadata: ["error": "\(error)", "retry_in": "\(backoff)"])
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
        logger.info("consumer stopped reading; workers are draining")
    }

    /// Re-dispatches this consumer's unacknowledged stream entries and processing-list tasks.
    private func recoverOwnWork() async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let raw = try await control.send(["LRANGE", configuration.keys.processing(configuration.consumerName), "0", "-1"])
                let tasks = (raw.array ?? []).compactMap(\.bytes)
                if !tasks.isEmpty {
                    logger.info("re-processing tasks left in the processing list", metadata: ["count": "\(tasks.count)"])
                }
                await dispatchCompat(tasks)
                var pending = 0
                while true {
                    let n = try await readStreams(ids: "0", block: false)
                    pending += n
                    if n == 0 { break }
                }
                if pending > 0 { logger.info("re-processing pending stream entries", metadata: ["count": "\(pending)"]) }
                return
            } catch {
                logger.warning("redis unavailable while recovering pending work", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// Moves a window of compatibility tasks into the processing list and dispatches them,
    /// highest priority first (FIFO within a priority). Returns how many were moved.
    private func pullCompatTasks() async throws(RedisError) -> Int {
        let reply = try await control.send(["EVAL", Self.moveScript, "2", configuration.keys.tasks,
                                            configuration.keys.processing(configuration.consumerName), String(configuration.compatWindow)])
        let tasks = (reply.array ?? []).compactMap(\.bytes)
        await dispatchCompat(tasks)
        return tasks.count
    }

    private func dispatchCompat(_ tasks: [[UInt8]]) async {
        guard !tasks.isEmpty else { return }
        counters.compatTasksRead.add(tasks.count, ordering: .relaxed)
        var items: [(priority: Int, order: Int, worker: Int, item: WorkItem)] = []
        for (order, raw) in tasks.enumerated() {
            do {
                let task = try TelemetryTaskCodec.decode(raw)
                let worker = router.shard(of: task.deviceID) % queues.count
                items.append((task.priority.rawValue, order, worker, WorkItem(source: .compat(raw: raw), payload: .task(task))))
            } catch {
                let item = WorkItem(source: .compat(raw: raw), payload: .undecodable(error, raw: raw, sourceID: TelemetryTaskCodec.salvageID(raw)))
                items.append((TelemetryTask.Priority.normal.rawValue, order, 0, item))
            }
        }
        items.sort { $0.priority != $1.priority ? $0.priority > $1.priority : $0.order < $1.order }
        for entry in items { await queues[entry.worker].push(entry.item) }
    }

    /// One `XREADGROUP` over every shard; returns the number of entries dispatched.
    private func readStreams(ids: String, block: Bool) async throws(RedisError) -> Int {
        var command: RedisCommand = ["XREADGROUP", "GROUP", configuration.group, configuration.consumerName,
                                     "COUNT", String(configuration.readCount)]
        if block {
            command.append("BLOCK")
            command.append(String(configuration.blockMillis))
        }
        command.append("STREAMS")
        for shard in 0..<configuration.shards { command.append(configuration.keys.stream(shard)) }
        for _ in 0..<configuration.shards { command.append(ids) }
        let reply = try await reader.send(command)
        guard let streams = reply.array else { return 0 }
        var dispatched = 0
        for stream in streams {
            guard let pair = stream.array, pair.count == 2, let key = pair[0].string, let entries = pair[1].array,
                  let shard = shardOf(key) else { continue }
            for entry in entries {
                guard let parts = entry.array, parts.count == 2, let id = parts[0].string else { continue }
                dispatched += 1
                counters.entriesRead.add(1, ordering: .relaxed)
                let source = WorkItem.Source.stream(shard: shard, entryID: id)
                guard let fields = parts[1].array else {
                    // A pending entry trimmed from the stream: nothing left to process.
                    logger.warning("pending entry no longer in the stream, acknowledging", metadata: ["stream": "\(key)", "entry": "\(id)"])
                    _ = try? await control.send(["XACK", key, configuration.group, id])
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
                if let data {
                    item = WorkItem(source: source, payload: .hubBatch(version: version, bytes: data))
                } else {
                    item = WorkItem(source: source, payload: .undecodable(TelemetryError(.missingField, "stream entry has no d field"), raw: [], sourceID: id))
                }
                await queues[shard % queues.count].push(item)
            }
        }
        return dispatched
    }

    private func shardOf(_ key: String) -> Int? {
        let prefix = configuration.keys.stream(0).dropLast(1)
        guard key.hasPrefix(prefix) else { return nil }
        return Int(key.dropFirst(prefix.count))
    }

    /// Refreshes this consumer's heartbeat and re-queues the processing lists of consumers whose
    /// heartbeat expired. Returns how many tasks were re-queued.
    public func maintainCompat() async throws(RedisError) -> Int {
        let keys = configuration.keys
        try await control.send(["SET", keys.heartbeat(configuration.consumerName), String(wallClockMicros() / 1000),
                                "PX", String(configuration.heartbeatMillis * 3)])
        var cursor = "0"
        var requeued = 0
        repeat {
            let reply = try await control.send(["SCAN", cursor, "MATCH", keys.processingPattern, "COUNT", "100"])
            guard let parts = reply.array, parts.count == 2 else { break }
            cursor = parts[0].string ?? "0"
            for key in (parts[1].array ?? []).compactMap(\.string) {
                let consumer = String(key.dropFirst(keys.processing("").count))
                guard consumer != configuration.consumerName else { continue }
                let moved = try await control.send(["EVAL", Self.requeueScript, "3", key, keys.heartbeat(consumer), keys.tasks]).int ?? -1
                if moved > 0 {
                    requeued += moved
                    logger.warning("re-queued the tasks of a dead consumer", metadata: ["consumer": "\(consumer)", "count": "\(moved)"])
                }
            }
        } while cursor != "0"
        return requeued
    }
}
