import Foundation
import Logging
import Postgres
import Redis
import Synchronization
import TelemetryCore

/// Owns one PostgreSQL connection of the processor and writes batches exactly once.
///
/// The actor runs on a thread of its own (libpq blocks). Batches are committed in groups: every
/// ``write(_:)`` that arrives while a transaction is running joins the next one (up to
/// `maxGroupRows` rows), so under load one transaction and one WAL flush carry many batches,
/// and an idle pipeline still commits each batch at once. One group is one transaction:
/// 1. record every batch id in `ingested_batches`; a batch whose id is already there is done;
/// 2. one binary `COPY` of the new batches' samples straight into `samples` (the fast path); if it
///    hits the unique key (a sample re-sent inside another batch), fall back to a staging table +
///    `INSERT … ON CONFLICT DO NOTHING` and count what was skipped (Docs/performance.md measures both paths);
/// 3. add the inserted samples (only those) to `aggregates_1m`, `_1h` and `_1d`, upsert `latest_values`, insert
///    alerts of inserted samples, move the streams' `stream_positions` rows to the furthest entry; 4. commit; 5. hand the latest values to the cache writer's thread. The caller acknowledges its entry only after that.
/// A group that fails for any reason but a lost connection is rolled back and its batches are
/// written one per transaction, so one bad batch fails alone.
package actor StorageActor {
    private nonisolated let executor: ThreadExecutor
    package nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    let conninfo: String
    let logger: Logger
    let maxGroupRows: Int
    /// Distinct metric names the deployment may hold (`validation.max_metric_names`).
    let maxMetricNames: Int
    var connection: PostgresConnection?
    /// Device ids by tenant (nil: the default tenant) and name.
    var deviceIDs: [DeviceKey: Int32] = [:]
    /// Tenant ids by name in the database.
    var tenantIDs: [String: Int32] = [:]
    /// `tenants.default`: the database name of the tenant of batches that name none.
    let defaultTenant: String
    var metricIDs: [String: Int32] = [:]
    var knownPartitions: Set<Int> = []
    /// Writes latest values through to the query daemon's cache after each COMMIT (nil: off).
    package nonisolated let cache: LatestCacheWriter?
    /// Bench-only, off unless `TELEMETRY_BENCH_PLAIN_WRITES=1`: transactions record batch ids,
    /// copy samples and insert alerts, and skip the rollups, latest values and write-through — the
    /// baseline `make bench` measures their cost against. Never for a real database: its
    /// aggregates and latest values would stop following the samples.
    nonisolated let plainWrites = ProcessInfo.processInfo.environment["TELEMETRY_BENCH_PLAIN_WRITES"] == "1"

    struct Request: Sendable {
        let batches: [StorageBatch]
        let continuation: CheckedContinuation<Result<[StorageOutcome], PostgresError>, Never>
        var rows: Int { batches.reduce(0) { $0 + $1.samples.count } }
    }

    /// Writes waiting for the next transaction (filled from any thread, emptied by the actor).
    nonisolated let intake = Mutex<[Request]>([])
    /// Told what `stream_positions` holds each time a connection is opened (nil: not told).
    package nonisolated let positions: StreamPositionBook?
    /// Transactions committed and the batches they carried, for the metrics.
    package nonisolated let groups = Atomic<Int>(0)
    package nonisolated let groupedBatches = Atomic<Int>(0)

    package init(conninfo: String, logger: Logger, name: String = "storage", maxGroupRows: Int = 20_000, maxMetricNames: Int = 10_000,
                 cache: LatestCacheWriter? = nil, defaultTenant: String = "default", positions: StreamPositionBook? = nil) {
        self.conninfo = conninfo
        self.positions = positions
        self.defaultTenant = defaultTenant
        self.cache = cache
        self.maxMetricNames = maxMetricNames
        self.logger = logger
        self.maxGroupRows = maxGroupRows
        executor = ThreadExecutor(name: name)
    }

    /// Connects (if needed) and applies pending migrations; returns the versions applied.
    @discardableResult
    package func prepare() throws(PostgresError) -> [Int] {
        let pg = try live()
        let applied = try MigrationRunner.migrate(pg, migrations: Schema.migrations)
        try adoptDefaultTenant(pg)
        try seedPositions(pg)
        return applied
    }

    /// A row at `0-0` for each shard's stream that has none (the positions were read before, at
    /// connection): a standby that replicated it but missed the shard's first commits holds it
    /// on the old timeline once promoted, so the shard is re-read from its start whenever its
    /// reader connects, not only while other shards' rows are still unchecked.
    func seedPositions(_ pg: PostgresConnection) throws(PostgresError) {
        guard let streams = positions?.streams, !streams.isEmpty else { return }
        try pg.query("""
            INSERT INTO stream_positions (stream, ms, seq, timeline)
            SELECT s, 0, 0, telemetry_timeline() FROM unnest($1::text[]) AS s
            ON CONFLICT (stream) DO NOTHING
            """, [PostgresText.array(streams)])
    }

    /// Migration 11 files the devices stored before tenants under the tenant `default` (id 1). A
    /// deployment whose `tenants.default` is another name takes that row over while it holds no
    /// device (a new deployment); once it holds some, start-up stops rather than file the same
    /// device names under a second tenant and split their history (Docs/tenants.md says how to
    /// rename the row).
    func adoptDefaultTenant(_ pg: PostgresConnection) throws(PostgresError) {
        guard defaultTenant != "default" else { return }
        guard let row = try pg.query("""
            SELECT (SELECT name FROM tenants WHERE id = 1), EXISTS (SELECT FROM tenants WHERE name = $1),
                   EXISTS (SELECT FROM devices WHERE tenant_id = 1)
            """, [defaultTenant]).rows.first, row[0] == "default", row[1] == "f" else { return }
        guard row[2] == "f" else {
            throw PostgresError(.server, "tenants.default is '\(defaultTenant)' but the devices already stored belong to the tenant 'default' (id 1): "
                                + "rename it first (UPDATE tenants SET name = '\(defaultTenant)' WHERE id = 1), or set tenants.default: default")
        }
        try pg.query("UPDATE tenants SET name = $1 WHERE id = 1 AND name = 'default'", [defaultTenant])
    }

    /// Metric names with an id above `id`, in id order, at most `limit` (to mirror them into
    /// Redis for the hubs' cardinality check), and how many metric names exist.
    package func metricNames(after id: Int32, limit: Int) throws(PostgresError) -> (names: [(id: Int32, name: String)], total: Int) {
        let pg = try live()
        let rows = try pg.query("SELECT id, name FROM metrics WHERE id > $1::int ORDER BY id LIMIT $2::int", [String(id), String(limit)]).rows
        let total = Int(try pg.execute("SELECT count(*) FROM metrics").rows.first?[0] ?? "") ?? 0
        return (rows.compactMap { row in row[0].flatMap { Int32($0) }.flatMap { id in row[1].map { (id, $0) } } }, total)
    }

    /// Records `batch`'s own key as committed once its pieces are (after isolating the samples
    /// PostgreSQL refused): a redelivery is then a duplicate, and a session read naming the batch
    /// is served. It counts 0 samples: its pieces' records count what they stored.
    package func recordIsolated(_ batch: StorageBatch) throws(PostgresError) {
        let pg = try live()
        try pg.execute("BEGIN")
        do {
            try pg.query("INSERT INTO ingested_batches (batch_id, samples, digest) VALUES ($1, 0, $2::int8) ON CONFLICT DO NOTHING",
                         [batch.key, String(batch.digest)])
            // The entry's position moves only now: with a piece lost in a failover, it is re-read.
            try recordPositions(batch.position.map { [$0] } ?? [], pg)
            try pg.execute("COMMIT")
        } catch {
            if pg.isUsable { _ = try? pg.execute("ROLLBACK") } else { connection = nil }
            throw error
        }
    }

    /// The server's replication slots and the WAL each holds back (Docs/change-feed.md); none
    /// on a server that is not a primary.
    package func replicationSlots() throws(PostgresError) -> [ReplicationSlot] {
        let rows = try live().execute("""
            SELECT slot_name, slot_type, active, coalesce(wal_status, 'unknown'),
                   CASE WHEN pg_is_in_recovery() OR restart_lsn IS NULL THEN 0 ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint END,
                   (SELECT CASE WHEN setting::bigint < 0 THEN NULL ELSE setting::bigint * 1024 * 1024 END FROM pg_settings WHERE name = 'max_slot_wal_keep_size')
            FROM pg_replication_slots ORDER BY slot_name
            """).rows
        return rows.map {
            ReplicationSlot(name: $0[0] ?? "", kind: $0[1] ?? "", active: $0[2] == "t", walStatus: $0[3] ?? "unknown",
                            retainedBytes: Int($0[4] ?? "") ?? 0, limitBytes: $0[5].flatMap { Int($0) })
        }
    }

    /// Stamps `telemetry_heartbeat` with the time now (what replicas' lag is measured from).
    package func beat() throws(PostgresError) {
        try live().execute("UPDATE telemetry_heartbeat SET at = clock_timestamp() WHERE id = 1")
    }

    /// True when a trivial query succeeds.
    package func ping() -> Bool {
        (try? live().execute("SELECT 1")) != nil
    }

    /// Writes `batch` in the next transaction (see the type's documentation) and returns once it
    /// is committed.
    package nonisolated func write(_ batch: StorageBatch) async throws(PostgresError) -> StorageOutcome {
        try await write([batch])[0]
    }

    /// Writes `batches` in the next transaction, all or none: when one of them fails, none is
    /// committed and they all fail with its error (the caller then writes them one at a time).
    package nonisolated func write(_ batches: [StorageBatch]) async throws(PostgresError) -> [StorageOutcome] {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<[StorageOutcome], PostgresError>, Never>) in
            intake.withLock { $0.append(Request(batches: batches, continuation: continuation)) }
            Task { await self.drainIntake() }
        }
        return try result.get()
    }

    /// Commits what waits in the intake, a group at a time, until it is empty.
    func drainIntake() {
        while true {
            let requests = intake.withLock { pending -> [Request] in
                var rows = 0
                var count = 0
                while count < pending.count && (count == 0 || rows + pending[count].rows <= maxGroupRows) {
                    rows += pending[count].rows
                    count += 1
                }
                defer { pending.removeFirst(count) }
                return Array(pending.prefix(count))
            }
            guard !requests.isEmpty else { return }
            for (request, result) in zip(requests, commit(requests.map(\.batches))) {
                request.continuation.resume(returning: result)
            }
        }
    }

    /// Commits the batches of all `requests` in one transaction. On a failure other than a lost
    /// connection, each request gets a transaction of its own, so one bad request fails alone and
    /// a request is still all or none.
    func commit(_ requests: [[StorageBatch]]) -> [Result<[StorageOutcome], PostgresError>] {
        do throws(PostgresError) {
            let pg = try live()
            do {
                var outcomes = try write(requests.flatMap { $0 }, pg)[...]
                groups.add(1, ordering: .relaxed)
                groupedBatches.add(outcomes.count, ordering: .relaxed)
                return requests.map { request in
                    defer { outcomes = outcomes.dropFirst(request.count) }
                    return .success(Array(outcomes.prefix(request.count)))
                }
            } catch {
                if pg.isUsable { _ = try? pg.execute("ROLLBACK") } else { connection = nil }
                if error.sqlState == "23514" { knownPartitions.removeAll() }  // no partition for a row
                throw error
            }
        } catch where error.isConnectionError || requests.count == 1 {
            return requests.map { _ in .failure(error) }
        } catch {
            logger.warning("a group of batches failed; writing each request in its own transaction",
                           metadata: ["requests": "\(requests.count)", "error": "\(error)"])
            return requests.flatMap { commit([$0]) }
        }
    }

    func live() throws(PostgresError) -> PostgresConnection {
        if let connection, connection.isUsable { return connection }
        connection = nil
        let fresh = try PostgresConnection(conninfo: conninfo)
        if let positions {
            // Before anything is written on it (see StreamPositionBook).
            positions.connected(positions: try Self.streamPositions(fresh, streams: positions.streams))
        }
        connection = fresh
        return fresh
    }

    /// The rows of `stream_positions` written on an older timeline than the server's, by stream key.
    package func streamPositions() throws(PostgresError) -> [String: StreamID] {
        try Self.streamPositions(live(), streams: positions?.streams ?? [])
    }

    /// Marks `stream`'s row as checked on the server's timeline (its gap was re-read), unless
    /// `id` is no longer its position; a stream without a row (re-read from its start) gets one.
    package func adoptTimeline(stream: String, at id: StreamID) throws(PostgresError) {
        try live().query("""
            INSERT INTO stream_positions AS p (stream, ms, seq, timeline) VALUES ($1, $2::numeric, $3::numeric, telemetry_timeline())
            ON CONFLICT (stream) DO UPDATE SET timeline = telemetry_timeline() WHERE p.ms = EXCLUDED.ms AND p.seq = EXCLUDED.seq
            """, [stream, String(id.milliseconds), String(id.sequence)])
    }

    /// The rows of `stream_positions` written on an older timeline than the server's (a standby
    /// was promoted since), by stream key; empty before migration 13 created the table. Then
    /// also each of `streams` with no row at all, at `0-0`: the promoted standby missed every
    /// commit of it (a shard whose first commits all fell within the replication lag).
    static func streamPositions(_ pg: PostgresConnection, streams: [String]) throws(PostgresError) -> [String: StreamID] {
        let rows: PostgresRows
        do {
            rows = try pg.query("""
                WITH older AS (SELECT stream, ms, seq FROM stream_positions WHERE timeline <> telemetry_timeline())
                SELECT stream, ms, seq FROM older
                UNION ALL
                SELECT s, 0, 0 FROM unnest($1::text[]) AS s
                WHERE EXISTS (SELECT 1 FROM older) AND NOT EXISTS (SELECT 1 FROM stream_positions p WHERE p.stream = s)
                """, [PostgresText.array(streams)])
        } catch where error.sqlState == "42P01" || error.sqlState == "42883" {
            return [:]  // not migrated yet
        } catch where error.sqlState == "55000" {
            // A standby (recovery in progress): waited out like an unreachable primary, never
            // written to (it would be written to unchecked once promoted).
            pg.close()
            throw PostgresError(.connectionFailed, "connected to a standby (read-only, in recovery): postgres.url must reach the primary; "
                                + "with several hosts, add target_session_attrs=read-write")
        }
        var positions: [String: StreamID] = [:]
        for row in rows.rows {
            guard let stream = row[0], let ms = row[1].flatMap({ UInt64($0) }), let seq = row[2].flatMap({ UInt64($0) }) else { continue }
            positions[stream] = StreamID(milliseconds: ms, sequence: seq)
        }
        return positions
    }
}

/// A replication slot of the primary (`pg_replication_slots`).
package struct ReplicationSlot: Sendable, Equatable {
    package var name: String
    package var kind: String
    package var active: Bool
    package var walStatus: String
    package var retainedBytes: Int
    package var limitBytes: Int?
}
