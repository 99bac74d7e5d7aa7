import Logging
import Redis
import ServiceLifecycle
import TelemetryCore

/// Lease bookkeeping: the consumer's heartbeat, renewing, balancing and taking over shard
/// leases (planned by ``LeaseBalancer``), and adopting the tasks of dead consumers.
extension ConsumerActor {
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

    /// One maintenance round: refresh the heartbeat, renew, balance and take over shard leases,
    /// and re-queue the processing lists of consumers whose heartbeat expired. It never waits on
    /// the worker queues: the read loop claims a taken-over shard's pending entries.
    package func maintain() async throws(RedisError) {
        let keys = configuration.redis.keys
        let me = configuration.consumer.name
        let ttl = String(configuration.lease.ttlMillis)
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
        let owners = (try await control.send(RedisCommand(["MGET"] + (0..<configuration.shards).map(keys.lease))).array ?? [])
            .map(\.string)
        guard owners.count == configuration.shards else { throw RedisError(.protocolError, "MGET returned \(owners.count) values") }
        // Renew what is ours; forget what is not ours any more.
        let mine = leases.renewals
        let renewals = mine.isEmpty ? [] : try await control.pipeline(mine.map { ["EVAL", Self.renewScript, "1", keys.lease($0), me, ttl] })
        for (shard, reply) in zip(mine, renewals) where reply.int != 1 {
            leases.lost(shard)
            logger.warning("lost the lease of a shard", metadata: ["shard": "\(shard)"])
        }
        let (plan, leftByPreviousRun) = leases.plan(owners: owners, liveConsumers: live)
        for shard in plan.release {
            try await control.send(["EVAL", Self.releaseScript, "1", keys.lease(shard), me])
            leases.released(shard)
            logger.info("released a shard lease to rebalance", metadata: ["shard": "\(shard)", "live_processors": "\(live)"])
        }
        for shard in plan.acquire {
            let reply = try await control.send(["SET", keys.lease(shard), me, "PX", ttl, "NX"])
            if reply.string != "OK" {
                guard try await control.send(["GET", keys.lease(shard)]).string == me else { continue }
                try await control.send(["PEXPIRE", keys.lease(shard), ttl])
            }
            // The claim runs in the read loop, never here: waiting on full worker queues (a slow
            // PostgreSQL) must not delay lease renewals.
            leases.acquired(shard, leftByPreviousRun: leftByPreviousRun.contains(shard))
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
    package func releaseAll() async {
        let keys = configuration.redis.keys
        let me = configuration.consumer.name
        var commands: [RedisCommand] = leases.releaseAll().map { ["EVAL", Self.releaseScript, "1", keys.lease($0), me] }
        commands.append(["DEL", keys.heartbeat(me)])
        _ = try? await control.pipeline(commands)
    }

    func scan(pattern: String) async throws(RedisError) -> [String] {
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
