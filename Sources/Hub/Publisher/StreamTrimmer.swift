import Logging
import Redis
import TelemetryCore

/// Trims the shard streams to their retention on a timer (`XTRIM … MINID`), apart from the
/// writes: a Redis at `maxmemory` refusing every `XADD` still gets its old entries trimmed, and
/// the cut-off is computed from Redis's own clock (`TIME`), the clock its entry ids come from, not
/// the hub's.
///
/// Retention is by time (replay and failover recovery rely on it), so a consumer group that has
/// not read or acknowledged entries that old loses them; they are counted
/// (`telemetry_hub_stream_trimmed_unread_total`) and logged before they go, never silently.
package struct StreamTrimmer: Sendable {
    let redis: RedisClient
    let keys: RedisKeys
    let shards: Int
    let retentionMillis: Int64
    let counters: HubCounters
    let logger: Logger

    /// Most entries counted per shard and group before a trim (an estimate beyond it).
    static let countLimit = 100_000

    package init(redis: RedisClient, keys: RedisKeys, shards: Int, retentionDays: Int, counters: HubCounters, logger: Logger) {
        self.redis = redis
        self.keys = keys
        self.shards = shards
        retentionMillis = Int64(retentionDays) * 86_400_000
        self.counters = counters
        self.logger = logger
    }

    /// Trims every shard once; returns the entries removed.
    @discardableResult
    package func trimOnce() async throws(RedisError) -> Int {
        let time = try await redis.send(["TIME"]).array ?? []
        guard time.count == 2, let seconds = time[0].string.flatMap(Int64.init) else {
            throw RedisError(.protocolError, "unexpected TIME reply")
        }
        let minID = "\(seconds * 1000 - retentionMillis)-0"
        var removed = 0
        for shard in 0..<shards {
            let key = keys.stream(shard)
            let unread = try await unreadBefore(minID, key: key)
            if unread > 0 {
                counters.trimmedUnread.add(unread, ordering: .relaxed)
                logger.error("trimming entries past stream retention that a consumer group has not processed",
                             metadata: ["shard": "\(shard)", "entries": "\(unread)", "min_id": "\(minID)",
                                        "note": "streams.retention_days elapsed with no processor reading this shard"])
            }
            removed += try await redis.send(["XTRIM", key, "MINID", minID]).int ?? 0
        }
        if removed > 0 { counters.entriesTrimmed.add(removed, ordering: .relaxed) }
        return removed
    }

    /// Entries older than `minID` that some group of `key` has not acknowledged: pending below it,
    /// plus those after the group's last delivered id and below it (never delivered).
    private func unreadBefore(_ minID: String, key: String) async throws(RedisError) -> Int {
        let groups: RESPValue
        do {
            groups = try await redis.send(["XINFO", "GROUPS", key])
        } catch where error.code == .server {
            return 0  // no such stream yet
        }
        var total = 0
        for values in RedisClient.groups(in: groups) {
            guard let name = values["name"]?.string else { continue }
            let pending = try await redis.send(["XPENDING", key, name, "-", "(" + minID, String(Self.countLimit)])
            total += pending.array?.count ?? 0
            if let last = values["last-delivered-id"]?.string, Self.precedes(last, minID) {
                let unread = try await redis.send(["XRANGE", key, "(" + last, "(" + minID, "COUNT", String(Self.countLimit)])
                total += unread.array?.count ?? 0
            }
        }
        return total
    }

    /// Whether stream id `a` sorts before `b` (`ms-seq`).
    package static func precedes(_ a: String, _ b: String) -> Bool {
        func parts(_ id: String) -> (UInt64, UInt64) {
            let p = id.split(separator: "-")
            return (UInt64(p.first ?? "") ?? 0, p.count > 1 ? UInt64(p[1]) ?? 0 : 0)
        }
        return parts(a) < parts(b)
    }
}
