import Logging
import Redis
import ServiceLifecycle
import TelemetryCore

/// Redelivered work: a previous run's processing list, the pending entries of acquired shards,
/// and work stranded by lost replies. It is dispatched one at a time and counted, because it is
/// where an input that crashes its processor hides.
extension ConsumerActor {
    /// Re-dispatches the tasks left in this consumer's processing list by a previous run.
    func recoverOwnTasks() async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let raw = try await control.send(["LRANGE", configuration.redis.keys.processing(configuration.consumer.name), "0", "-1"])
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

    /// Claims the pending entries of shards just acquired, in shard order; each shard is read
    /// once its claim is done.
    func claimAcquired() async throws(RedisError) {
        for (shard, minIdle) in leases.claims {
            guard !Task.isShuttingDownGracefully && !Task.isCancelled else { return }
            guard await checkPosition(of: shard) else { continue }
            let claimed = try await claimPending(shard: shard, minIdle: minIdle)
            leases.claimed(shard)
            if claimed > 0 { logger.info("claimed the pending entries of an acquired shard", metadata: ["shard": "\(shard)", "claimed": "\(claimed)"]) }
        }
    }

    /// Every `consumer.claim_interval_ms`: delivers again the work that is pending in Redis but
    /// that no worker holds, once idle for `consumer.claim_idle_ms` (a lost `XREADGROUP` or `LMOVE`
    /// reply leaves it stranded until the next start otherwise).
    func redeliverStranded() async throws(RedisError) {
        let now = ContinuousClock.now
        guard now - lastStrandedCheck >= .milliseconds(configuration.consumer.claimIntervalMillis) else { return }
        lastStrandedCheck = now
        for shard in leases.reading.sorted() {
            let claimed = try await claimPending(shard: shard, minIdle: configuration.consumer.claimIdleMillis)
            if claimed > 0 {
                counters.strandedRedelivered.add(claimed, ordering: .relaxed)
                logger.warning("delivered stranded pending entries again", metadata: ["shard": "\(shard)", "entries": "\(claimed)"])
            }
        }
        let listed = (try await control.send(["LRANGE", configuration.redis.keys.processing(configuration.consumer.name), "0", "-1"]).array ?? []).compactMap(\.bytes)
        var copies: [UInt64: Int] = [:]
        var stillStranded: [UInt64: ContinuousClock.Instant] = [:]
        var again: [[UInt8]] = []
        for raw in listed {
            let hash = FNV1a.hash64(bytes: raw)
            copies[hash, default: 0] += 1
            guard copies[hash]! > inFlight.count(taskHash: hash) else { continue }  // a worker holds it
            let since = strandedTasks[hash] ?? now
            if now - since >= .milliseconds(configuration.consumer.claimIdleMillis) {
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
    func claimPending(shard: Int, minIdle: Int) async throws(RedisError) -> Int {
        let key = configuration.redis.keys.stream(shard)
        var start = "-"
        var claimed = 0
        while true {
            let rows = try await control.send(["XPENDING", key, configuration.consumer.group, "IDLE", String(minIdle), start, "+",
                                               String(configuration.consumer.readCount)]).array ?? []
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
                let entries = try await control.send(["XCLAIM", key, configuration.consumer.group, configuration.consumer.name, String(minIdle), id]).array ?? []
                guard !entries.isEmpty else {
                    // Not claimed: deleted from the stream (Redis drops it from the PEL), or taken by
                    // another consumer meanwhile. Only a deleted one is data lost upstream.
                    if (try await control.send(["XRANGE", key, id, id]).array ?? []).isEmpty {
                        counters.trimmedUnread.add(1, ordering: .relaxed)
                        logger.error("a pending entry was deleted from the stream before it was processed (trimmed unread)",
                                     metadata: ["shard": "\(shard)", "entry": "\(id)"])
                        _ = try await control.send(["XACK", key, configuration.consumer.group, id])
                    }
                    continue
                }
                claimed += await dispatchEntries(entries, shard: shard, deliveries: deliveries)
                await heartbeat.waiting { await waitUntil { !self.inFlight.contains(shard: shard, entry: id) } }
            }
            if rows.count < configuration.consumer.readCount { break }
        }
        return claimed
    }
}
