import Logging
import Postgres
import Redis
import Synchronization
import TelemetryConfiguration
import TelemetryCore

/// The latest values of one device as read from a node, with where they came from.
struct LatestRead: Sendable {
    /// False when no device has that name.
    var known: Bool
    var entries: [LatestCache.Entry]
    var provenance: Provenance
}

/// Latest values: from the Redis cache for eventual reads (a hit needs an entry a fill made
/// complete), else from the database, filling the cache through the newer-wins merge with one
/// fill per device at a time (Docs/architecture.md, "Hot-attribute cache").
final class LatestReader: Sendable {
    let nodes: ReadNodes
    private let clients: [RedisClient]
    private let next = Atomic<Int>(0)
    private let keys: RedisKeys
    private let ttlMillis: Int64
    private let counters: QueryCounters
    private let logger: Logger
    /// Until when (ms since the epoch) the cache is not asked, after it failed.
    private let pausedUntil = Atomic<Int64>(0)
    /// Cache lookups waiting or running.
    private let lookups = Atomic<Int>(0)
    /// Fills running, by cache key (one per tenant's device).
    private let fills = Mutex<[String: Task<Result<LatestRead, ReadFailure>, Never>]>([:])
    private let random = Mutex(SplitMix64(seed: UInt64.random(in: 0...UInt64.max)))
    /// Runs between a fill's database read and its cache write (a test injects a delay here).
    private let afterRead: @Sendable (String) async -> Void

    /// With `redis` nil the cache is off (every read is a BYPASS).
    init(nodes: ReadNodes, redis: RedisEndpoint?, keys: RedisKeys, ttlMillis: Int64, counters: QueryCounters, logger: Logger,
         afterRead: @escaping @Sendable (String) async -> Void = { _ in }) {
        self.nodes = nodes
        // A cache that is down must not hold a read for seconds: short timeouts, then a pause.
        clients = redis.map { endpoint in
            var endpoint = endpoint
            endpoint.timeout = .milliseconds(250)
            return (0..<2).map { RedisClient(endpoint: endpoint, name: "cache-\($0)") }
        } ?? []
        self.keys = keys
        self.ttlMillis = ttlMillis
        self.counters = counters
        self.logger = logger
        self.afterRead = afterRead
    }

    /// Whether a cache is configured.
    var enabled: Bool { !clients.isEmpty }

    private var client: RedisClient { clients[next.add(1, ordering: .relaxed).newValue % clients.count] }

    /// The device's cache entry (of `tenant`, nil: the default tenant), or nil when there is none
    /// or the cache cannot be reached.
    func cached(_ device: String, tenant: String?) async -> LatestCache.Cached? {
        guard enabled, wallClockMicros() / 1000 >= pausedUntil.load(ordering: .relaxed) else { return nil }
        // Lookups queue on the cache's connections: one that waited 100 ms fails without I/O (and
        // pauses the cache), and past 1 024 waiting reads go to the database rather than queue.
        guard lookups.add(1, ordering: .relaxed).newValue <= 1024 else {
            lookups.subtract(1, ordering: .relaxed)
            return nil
        }
        defer { lookups.subtract(1, ordering: .relaxed) }
        do {
            let reply = try await client.send(["HGETALL", keys.latest(device, tenant: tenant)], notAfter: .now + .milliseconds(100))
            guard let flat = reply.array?.compactMap(\.string), !flat.isEmpty else { return nil }
            return LatestCache.decode(flat)
        } catch {
            pause(error)
            return nil
        }
    }

    /// Reads the device's latest values on the sources of `plan` (no cache).
    func read(_ device: String, tenant: String?, plan: [ReadSource], lags: ReplicaLags) async throws(ReadFailure) -> LatestRead {
        let (rows, provenance) = try await nodes.read(plan, lags: lags, tenant: tenant, """
            SELECT m.name, (extract(epoch FROM l.ts) * 1000000)::int8, l.value
            FROM devices d LEFT JOIN latest_values l ON l.device_id = d.id LEFT JOIN metrics m ON m.id = l.metric_id
            WHERE d.name = $1 AND d.tenant_id = (SELECT id FROM tenants WHERE name = $2) ORDER BY m.name
            """, [device, nodes.tenants.databaseName(tenant)])
        var entries: [LatestCache.Entry] = []
        for row in rows.rows {
            guard let metric = row[0], let ts = row[1].flatMap({ Int64($0) }), let value = row[2].flatMap({ Double($0) }) else { continue }
            entries.append(LatestCache.Entry(metric: metric, timestampMicros: ts, value: value))
        }
        return LatestRead(known: !rows.rows.isEmpty, entries: entries, provenance: provenance)
    }

    /// Reads the device on `plan` and fills its cache entry; concurrent callers for one device
    /// share one fill.
    func fill(_ device: String, tenant: String?, plan: [ReadSource], lags: ReplicaLags) async throws(ReadFailure) -> LatestRead {
        let key = keys.latest(device, tenant: tenant)
        let task = fills.withLock { running -> Task<Result<LatestRead, ReadFailure>, Never> in
            if let task = running[key] { return task }
            let task = Task { () -> Result<LatestRead, ReadFailure> in
                await self.markPending(key)
                let started = wallClockMicros() / 1000
                let result: Result<LatestRead, ReadFailure>
                do throws(ReadFailure) {
                    let read = try await self.read(device, tenant: tenant, plan: plan, lags: lags)
                    if read.known {
                        await self.afterRead(device)
                        await self.store(key, read, readAtMillis: started)
                    } else {
                        await self.dropPending(key)  // no key stays behind for a name nobody stored
                    }
                    result = .success(read)
                } catch {
                    result = .failure(error)
                }
                _ = self.fills.withLock { $0.removeValue(forKey: key) }
                return result
            }
            running[key] = task
            return task
        }
        return try await task.value.get()
    }

    /// Merges a fill into the cache. Its TTL counts from when its data was current (the read's
    /// start, less the source's lag), so no entry outlives one TTL past the state it shows.
    private func store(_ key: String, _ read: LatestRead, readAtMillis: Int64) async {
        guard enabled, wallClockMicros() / 1000 >= pausedUntil.load(ordering: .relaxed) else {
            counters.countFill("skipped")
            return
        }
        let now = wallClockMicros() / 1000
        // When the data was current: the read's start, less the source's lag.
        let asOf = readAtMillis - Int64(read.provenance.lagBoundSeconds * 1000)
        let ttl = random.withLock { LatestCache.jittered(ttlMillis, using: &$0) } - (now - asOf)
        guard ttl > 0 else {
            counters.countFill("too_old")
            return
        }
        let arguments = LatestCache.mergeArguments(key: key, entries: read.entries, nowMillis: asOf, ttlMillis: ttl, fill: true)
        do {
            try await client.send(RedisCommand(["EVAL", LatestCache.script] + arguments), notAfter: .now + .milliseconds(500))
            counters.countFill("filled")
        } catch {
            counters.countFill("failed")
            pause(error)
        }
    }

    /// Creates the device's `key`, marked pending, so write-throughs during the fill land in it.
    private func markPending(_ key: String) async {
        guard enabled, wallClockMicros() / 1000 >= pausedUntil.load(ordering: .relaxed) else { return }
        do {
            try await client.send(["EVAL", LatestCache.markScript, "1", key, "30000"], notAfter: .now + .milliseconds(500))
        } catch {
            pause(error)
        }
    }

    /// Deletes the device's `key` if no fill ever completed it.
    private func dropPending(_ key: String) async {
        guard enabled, wallClockMicros() / 1000 >= pausedUntil.load(ordering: .relaxed) else { return }
        _ = try? await client.send(["EVAL", "if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then redis.call('DEL', KEYS[1]) end return 1",
                                    "1", key, LatestCache.filledField], notAfter: .now + .milliseconds(500))
    }

    private func pause(_ error: any Error) {
        let now = wallClockMicros() / 1000
        if pausedUntil.exchange(now + 1000, ordering: .relaxed) < now {
            logger.warning("the latest-value cache failed; reads go to the database for a second", metadata: ["error": "\(error)"])
        }
    }
}
