import Logging
public import Postgres
public import Synchronization
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
///    `INSERT … ON CONFLICT DO NOTHING` and count what was skipped (LIMITS.md measures both paths);
/// 3. add the inserted samples (only those) to `aggregates_1m`, upsert `device_latest`, insert
///    alerts of inserted samples; 4. commit. The caller acknowledges its entry only after that.
/// A group that fails for any reason but a lost connection is rolled back and its batches are
/// written one per transaction, so one bad batch fails alone.
public actor StorageActor {
    private nonisolated let executor: ThreadExecutor
    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    private let conninfo: String
    private let logger: Logger
    private let maxGroupRows: Int
    /// Distinct metric names the deployment may hold (`validation.max_metric_names`).
    private let maxMetricNames: Int
    private var connection: PostgresConnection?
    private var deviceIDs: [String: Int32] = [:]
    private var metricIDs: [String: Int32] = [:]
    private var knownPartitions: Set<Int> = []

    private struct Request: Sendable {
        let batches: [StorageBatch]
        let continuation: CheckedContinuation<Result<[StorageOutcome], PostgresError>, Never>
        var rows: Int { batches.reduce(0) { $0 + $1.samples.count } }
    }

    /// Writes waiting for the next transaction (filled from any thread, emptied by the actor).
    private nonisolated let intake = Mutex<[Request]>([])
    /// Transactions committed and the batches they carried, for the metrics.
    public nonisolated let groups = Atomic<Int>(0)
    public nonisolated let groupedBatches = Atomic<Int>(0)

    public init(conninfo: String, logger: Logger, name: String = "storage", maxGroupRows: Int = 20_000, maxMetricNames: Int = 10_000) {
        self.conninfo = conninfo
        self.maxMetricNames = maxMetricNames
        self.logger = logger
        self.maxGroupRows = maxGroupRows
        executor = ThreadExecutor(name: name)
    }

    /// Connects (if needed) and applies pending migrations; returns the versions applied.
    @discardableResult
    public func prepare() throws(PostgresError) -> [Int] {
        try MigrationRunner.migrate(try live(), migrations: Schema.migrations)
    }

    /// Metric names with an id above `id`, in id order, at most `limit` (to mirror them into
    /// Redis for the hubs' cardinality check), and how many metric names exist.
    public func metricNames(after id: Int32, limit: Int) throws(PostgresError) -> (names: [(id: Int32, name: String)], total: Int) {
        let pg = try live()
        let rows = try pg.query("SELECT id, name FROM metrics WHERE id > $1::int ORDER BY id LIMIT $2::int", [String(id), String(limit)]).rows
        let total = Int(try pg.execute("SELECT count(*) FROM metrics").rows.first?[0] ?? "") ?? 0
        return (rows.compactMap { row in row[0].flatMap { Int32($0) }.flatMap { id in row[1].map { (id, $0) } } }, total)
    }

    /// True when a trivial query succeeds.
    public func ping() -> Bool {
        (try? live().execute("SELECT 1")) != nil
    }

    /// Writes `batch` in the next transaction (see the type's documentation) and returns once it
    /// is committed.
    public nonisolated func write(_ batch: StorageBatch) async throws(PostgresError) -> StorageOutcome {
        try await write([batch])[0]
    }

    /// Writes `batches` in the next transaction, all or none: when one of them fails, none is
    /// committed and they all fail with its error (the caller then writes them one at a time).
    public nonisolated func write(_ batches: [StorageBatch]) async throws(PostgresError) -> [StorageOutcome] {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<[StorageOutcome], PostgresError>, Never>) in
            intake.withLock { $0.append(Request(batches: batches, continuation: continuation)) }
            Task { await self.drainIntake() }
        }
        return try result.get()
    }

    /// Commits what waits in the intake, a group at a time, until it is empty.
    private func drainIntake() {
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
    private func commit(_ requests: [[StorageBatch]]) -> [Result<[StorageOutcome], PostgresError>] {
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

    /// One batch of a group with its names resolved to ids, and where its rows start.
    private struct Resolved {
        var batch: StorageBatch
        var devices: [Int32]
        var metrics: [Int32]
        var firstRow: Int
    }

    private func write(_ batches: [StorageBatch], _ pg: PostgresConnection) throws(PostgresError) -> [StorageOutcome] {
        // The group's new names in one round trip per table; then each batch's ids from the cache.
        // Only names its samples use: a table may also list names whose samples were refused.
        let usedDevices = Set(batches.flatMap { b in b.series.devices.map { b.deviceNames[Int($0)] } })
        let usedMetrics = Set(batches.flatMap { b in b.series.metrics.map { b.metricNames[Int($0)] } })
        // Sorted: processors inserting the same new names take their index locks in one order.
        try resolve(names: usedDevices.sorted(), table: "devices", cache: &deviceIDs, limit: nil, pg)
        let refused = try resolve(names: usedMetrics.sorted(), table: "metrics", cache: &metricIDs, limit: maxMetricNames, pg)
        // Samples naming a metric refused by validation.max_metric_names are split off (the worker
        // dead-letters them as cardinality_limit); the rest of their batch is stored.
        var batches = batches
        var overCardinality = [[Sample]](repeating: [], count: batches.count)
        if !refused.isEmpty {
            for index in batches.indices {
                let refusedIndexes = Set(batches[index].metricNames.indices.filter { refused.contains(batches[index].metricNames[$0]) })
                guard !refusedIndexes.isEmpty else { continue }
                var kept: [Sample] = []
                for sample in batches[index].samples {
                    if refusedIndexes.contains(Int(sample.metricIndex)) { overCardinality[index].append(sample) } else { kept.append(sample) }
                }
                batches[index] = batches[index].keeping(kept, droppingMetrics: refusedIndexes)
            }
        }
        // -1: a name no sample of the batch refers to (unused, or refused by the cap).
        let resolvedIDs = batches.map { batch in
            (devices: batch.deviceNames.map { deviceIDs[$0] ?? -1 }, metrics: batch.metricNames.map { metricIDs[$0] ?? -1 })
        }
        for (batch, ids) in zip(batches, resolvedIDs) {
            for n in 0..<batch.series.count where ids.devices[Int(batch.series.devices[n])] < 0 {
                throw PostgresError(.server, "devices has no row for \(PrintableName(batch.deviceNames[Int(batch.series.devices[n])]))")
            }
        }
        try ensurePartitions(for: batches, pg)

        try pg.execute("BEGIN")
        let claimed = try pg.query("""
            INSERT INTO ingested_batches (batch_id, samples, digest) SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[])
            ON CONFLICT DO NOTHING RETURNING batch_id
            """, [PostgresText.array(batches.map(\.key)), PostgresText.array(batches.map { String($0.samples.count) }),
                  PostgresText.array(batches.map { String($0.digest) })])
        var newIDs = Set(claimed.rows.compactMap { $0[0] })
        var outcomes = batches.map {
            StorageOutcome(duplicateBatch: true, inserted: 0, duplicates: $0.samples.count, conflictingValues: 0, alertsInserted: 0)
        }
        for index in outcomes.indices where !overCardinality[index].isEmpty {
            outcomes[index].overCardinality = overCardinality[index]
            outcomes[index].refusedNames = Array(Set(overCardinality[index].map { batches[index].metricNames[Int($0.metricIndex)] })).sorted()
        }
        var fresh: [(index: Int, resolved: Resolved)] = []
        var repeated: [Int] = []
        var rows = 0
        for (index, batch) in batches.enumerated() {
            guard newIDs.remove(batch.key) != nil else {
                repeated.append(index)
                continue
            }
            let resolved = Resolved(batch: batch, devices: resolvedIDs[index].devices, metrics: resolvedIDs[index].metrics, firstRow: rows)
            fresh.append((index, resolved))
            rows += batch.samples.count
        }
        if !repeated.isEmpty {
            // A key already committed: a redelivery (same digest) is done; other content under the
            // same id is told (duplicate_id), never silently dropped. Records from before digests
            // existed (NULL) count as redeliveries.
            let stored = try pg.query("SELECT batch_id, digest FROM ingested_batches WHERE batch_id = ANY($1::text[])",
                                      [PostgresText.array(repeated.map { batches[$0].key })])
            var digests: [String: Int64] = [:]
            for row in stored.rows { if let key = row[0], let digest = row[1].flatMap({ Int64($0) }) { digests[key] = digest } }
            for index in repeated where digests[batches[index].key].map({ $0 != batches[index].digest }) ?? false {
                outcomes[index].reusedID = true
            }
        }
        guard !fresh.isEmpty else {
            try pg.execute("ROLLBACK")
            return outcomes
        }
        let group = fresh.map(\.resolved)
        var copy = BinaryCopyWriter(reservingRows: rows, bytesPerRow: 40)
        for r in group {
            for sample in r.batch.samples {
                copy.beginRow(fields: 4)
                copy.int32(r.devices[Int(sample.deviceIndex)])
                copy.int32(r.metrics[Int(sample.metricIndex)])
                copy.timestamptz(unixMicros: sample.timestampMicros)
                copy.float8(sample.value)
            }
        }
        try pg.execute("SAVEPOINT bulk")
        var inserted: [Bool]?  // nil: every sample was inserted
        var conflicting: [Bool]?
        do {
            try pg.copyIn("COPY samples (device_id, metric_id, ts, value) FROM STDIN (FORMAT binary)", data: copy.finish())
        } catch where error.isUniqueViolation {
            try pg.execute("ROLLBACK TO SAVEPOINT bulk")
            (inserted, conflicting) = try insertSkippingDuplicates(group, rows: rows, pg)
        }
        try pg.execute("RELEASE SAVEPOINT bulk")

        try upsertAggregates(group, inserted: inserted, pg)
        try upsertLatest(group, inserted: inserted, pg)
        let alerts = try insertAlerts(group, inserted: inserted, pg)
        try pg.execute("COMMIT")
        for (position, (index, r)) in fresh.enumerated() {
            let range = r.firstRow..<(r.firstRow + r.batch.samples.count)
            let insertedCount = inserted.map { flags in range.reduce(0) { $0 + (flags[$1] ? 1 : 0) } } ?? range.count
            let conflictCount = conflicting.map { flags in range.reduce(0) { $0 + (flags[$1] ? 1 : 0) } } ?? 0
            outcomes[index].duplicateBatch = false
            outcomes[index].inserted = insertedCount
            outcomes[index].duplicates = range.count - insertedCount
            outcomes[index].conflictingValues = conflictCount
            outcomes[index].alertsInserted = alerts[position]
            if conflictCount > 0 {
                logger.warning("samples with an already stored key and a different value were skipped (first value kept)",
                               metadata: ["batch_id": "\(r.batch.id)", "conflicting_value": "\(conflictCount)"])
            }
        }
        return outcomes
    }

    /// The slow path: stage, insert what is new; returns which rows went in (the first of equal
    /// keys) and which were skipped carrying a different value than the stored one.
    private func insertSkippingDuplicates(_ group: [Resolved], rows: Int, _ pg: PostgresConnection) throws(PostgresError) -> ([Bool], [Bool]) {
        try pg.execute("""
            CREATE TEMP TABLE IF NOT EXISTS samples_staging (
                ord integer, device_id integer, metric_id integer, ts timestamptz, value double precision
            ) ON COMMIT DELETE ROWS
            """)
        var copy = BinaryCopyWriter(reservingRows: rows, bytesPerRow: 48)
        for r in group {
            for (offset, sample) in r.batch.samples.enumerated() {
                copy.beginRow(fields: 5)
                copy.int32(Int32(r.firstRow + offset))
                copy.int32(r.devices[Int(sample.deviceIndex)])
                copy.int32(r.metrics[Int(sample.metricIndex)])
                copy.timestamptz(unixMicros: sample.timestampMicros)
                copy.float8(sample.value)
            }
        }
        try pg.copyIn("COPY samples_staging (ord, device_id, metric_id, ts, value) FROM STDIN (FORMAT binary)", data: copy.finish())
        let insertedRows = try pg.execute("""
            WITH firsts AS (
                SELECT DISTINCT ON (device_id, metric_id, ts) ord, device_id, metric_id, ts, value
                FROM samples_staging ORDER BY device_id, metric_id, ts, ord),
            ins AS (
                INSERT INTO samples (device_id, metric_id, ts, value)
                SELECT device_id, metric_id, ts, value FROM firsts ORDER BY ord
                ON CONFLICT DO NOTHING RETURNING device_id, metric_id, ts)
            SELECT f.ord FROM firsts f JOIN ins USING (device_id, metric_id, ts)
            """)
        var inserted = [Bool](repeating: false, count: rows)
        for row in insertedRows.rows { if let ord = row[0].flatMap({ Int($0) }) { inserted[ord] = true } }
        let conflicts = try pg.execute("""
            SELECT s.ord FROM samples_staging s JOIN samples t USING (device_id, metric_id, ts)
            WHERE t.value IS DISTINCT FROM s.value
            """)
        var conflicting = [Bool](repeating: false, count: rows)
        for row in conflicts.rows { if let ord = row[0].flatMap({ Int($0) }) { conflicting[ord] = true } }
        return (inserted, conflicting)
    }

    private struct AggregateKey: Hashable, Comparable {
        var device: Int32
        var metric: Int32
        var minute: Int64

        static func < (a: Self, b: Self) -> Bool { (a.device, a.metric, a.minute) < (b.device, b.metric, b.minute) }
    }

    /// One (device, metric, minute) of the samples being written. Its sum is kept as finite partial
    /// sums: when adding a value would overflow a double (two valid values near 1.5e308), a new
    /// part starts; PostgreSQL adds the parts in `numeric`, which cannot overflow.
    struct Aggregate {
        var minute: Int64 = 0
        var count = 0
        var sum = 0.0
        /// Finished partial sums, besides ``sum``.
        var parts: [Double] = []
        var min = Double.infinity
        var max = -Double.infinity

        mutating func add(_ x: Double) {
            count += 1
            addToSum(x)
            min = Swift.min(min, x)
            max = Swift.max(max, x)
        }

        private mutating func addToSum(_ x: Double) {
            let total = sum + x
            if total.isFinite {
                sum = total
            } else {
                parts.append(sum)
                sum = x
            }
        }

        mutating func merge(_ other: Aggregate) {
            count += other.count
            parts += other.parts
            addToSum(other.sum)
            min = Swift.min(min, other.min)
            max = Swift.max(max, other.max)
        }
    }

    private func upsertAggregates(_ group: [Resolved], inserted: [Bool]?, _ pg: PostgresConnection) throws(PostgresError) {
        var aggregates: [AggregateKey: Aggregate] = [:]
        for r in group {
            // Per series of the batch first, an array slot each (``BatchSeries``): the group's
            // dictionary is touched once per series and minute, not once per sample.
            let series = r.batch.series
            var open = [Aggregate?](repeating: nil, count: series.count)
            func close(_ n: Int, _ a: Aggregate) {
                let key = AggregateKey(device: r.devices[Int(series.devices[n])], metric: r.metrics[Int(series.metrics[n])], minute: a.minute)
                aggregates[key, default: Aggregate(minute: a.minute)].merge(a)
            }
            for (offset, sample) in r.batch.samples.enumerated() where inserted?[r.firstRow + offset] ?? true {
                let minute = Timestamp.minuteStartSeconds(micros: sample.timestampMicros)
                let n = Int(series.numbers[offset])
                if let current = open[n], current.minute != minute { close(n, current); open[n] = nil }
                if open[n] == nil { open[n] = Aggregate(minute: minute) }
                open[n]!.add(sample.value)
            }
            for (n, a) in open.enumerated() { if let a { close(n, a) } }
        }
        guard !aggregates.isEmpty else { return }
        var d: [String] = [], m: [String] = [], b: [String] = [], c: [String] = [], s: [String] = [], lo: [String] = [], hi: [String] = []
        // In key order, so two processors upserting overlapping keys lock rows in the same order
        // (no deadlock between them).
        for key in aggregates.keys.sorted() {
            let a = aggregates[key]!
            for (index, part) in ([a.sum] + a.parts).enumerated() {
                d.append(String(key.device)); m.append(String(key.metric)); b.append(String(key.minute))
                c.append(String(index == 0 ? a.count : 0)); s.append("\(part)"); lo.append("\(a.min)"); hi.append("\(a.max)")
            }
        }
        try pg.query("""
            INSERT INTO aggregates_1m AS a (device_id, metric_id, bucket, count, sum, min, max)
            SELECT d, m, timestamptz 'epoch' + b * interval '1 second', sum(c), sum(s), min(lo), max(hi)
            FROM unnest($1::int[], $2::int[], $3::bigint[], $4::bigint[], $5::numeric[], $6::float8[], $7::float8[])
                AS u(d, m, b, c, s, lo, hi)
            GROUP BY d, m, b ORDER BY d, m, b
            ON CONFLICT (device_id, metric_id, bucket) DO UPDATE SET
                count = a.count + excluded.count, sum = a.sum + excluded.sum,
                min = least(a.min, excluded.min), max = greatest(a.max, excluded.max)
            """, [PostgresText.array(d), PostgresText.array(m), PostgresText.array(b), PostgresText.array(c),
                  PostgresText.array(s), PostgresText.array(lo), PostgresText.array(hi)])
    }

    private struct LatestKey: Hashable {
        var device: Int32
        var metric: String
    }

    private func upsertLatest(_ group: [Resolved], inserted: [Bool]?, _ pg: PostgresConnection) throws(PostgresError) {
        // Newest sample per (device, metric) of the group, by sample time.
        var newest: [LatestKey: (ts: Int64, value: Double)] = [:]
        for r in group {
            // Per batch by local indexes first (cheap), then merged by id and name.
            let series = r.batch.series
            var local = [(ts: Int64, value: Double)?](repeating: nil, count: series.count)
            for (offset, sample) in r.batch.samples.enumerated() where inserted?[r.firstRow + offset] ?? true {
                let n = Int(series.numbers[offset])
                if let current = local[n], current.ts >= sample.timestampMicros { continue }
                local[n] = (sample.timestampMicros, sample.value)
            }
            for (n, entry) in local.enumerated() {
                guard let entry else { continue }
                let key = LatestKey(device: r.devices[Int(series.devices[n])], metric: r.batch.metricNames[Int(series.metrics[n])])
                if let current = newest[key], current.ts >= entry.ts { continue }
                newest[key] = entry
            }
        }
        guard !newest.isEmpty else { return }
        var perDevice: [Int32: [(String, Int64, Double)]] = [:]
        for (key, entry) in newest { perDevice[key.device, default: []].append((key.metric, entry.ts, entry.value)) }
        var json = "["
        // In device order, so concurrent processors lock device_latest rows in the same order.
        for (n, (device, metrics)) in perDevice.sorted(by: { $0.key < $1.key }).enumerated() {
            if n > 0 { json += "," }
            json += "{\"d\":\(device),\"a\":{"
            for (k, (metric, ts, value)) in metrics.enumerated() {
                if k > 0 { json += "," }
                json += "\(PostgresText.jsonString(metric)):{\"value\":\(value),\"ts\":\"\(Timestamp.formatRFC3339(micros: ts))\"}"
            }
            json += "}}"
        }
        json += "]"
        try pg.query("""
            INSERT INTO device_latest AS l (device_id, attrs, updated_at)
            SELECT (e ->> 'd')::int, e -> 'a', now() FROM jsonb_array_elements($1::jsonb) AS e
            ON CONFLICT (device_id) DO UPDATE SET attrs = telemetry_merge_latest(l.attrs, excluded.attrs), updated_at = now()
            """, [json])
    }

    /// Inserts the alerts of inserted samples; returns how many each batch of the group added.
    private func insertAlerts(_ group: [Resolved], inserted: [Bool]?, _ pg: PostgresConnection) throws(PostgresError) -> [Int] {
        var d: [String] = [], m: [String] = [], t: [String] = [], v: [String] = [], rule: [String] = [], severity: [String] = [], owner: [String] = []
        for (position, r) in group.enumerated() {
            var alerts = r.batch.alerts
            if let inserted {
                // Only alerts of samples that went in: a re-sent sample must not fire again.
                var insertedKeys = Set<SampleKey>()
                for (offset, sample) in r.batch.samples.enumerated() where inserted[r.firstRow + offset] {
                    insertedKeys.insert(SampleKey(device: Int(sample.deviceIndex), metric: Int(sample.metricIndex), ts: sample.timestampMicros))
                }
                alerts.removeAll { !insertedKeys.contains(SampleKey(device: $0.device, metric: $0.metric, ts: $0.timestampMicros)) }
            }
            for alert in alerts {
                d.append(String(r.devices[alert.device])); m.append(String(r.metrics[alert.metric]))
                t.append(String(alert.timestampMicros)); v.append("\(alert.value)")
                rule.append(alert.rule); severity.append(alert.severity); owner.append(String(position))
            }
        }
        var counts = [Int](repeating: 0, count: group.count)
        guard !d.isEmpty else { return counts }
        let result = try pg.query("""
            WITH u AS (
                SELECT * FROM unnest($1::int[], $2::int[], $3::bigint[], $4::float8[], $5::text[], $6::text[], $7::int[])
                    AS u(d, m, t, v, r, s, b)),
            ins AS (
                INSERT INTO alerts (device_id, metric_id, ts, value, rule, severity)
                SELECT d, m, timestamptz 'epoch' + t * interval '1 microsecond', v, r, s FROM u
                ON CONFLICT DO NOTHING RETURNING device_id, metric_id, ts, rule)
            SELECT u.b, count(*) FROM u JOIN ins ON ins.device_id = u.d AND ins.metric_id = u.m
                AND ins.ts = timestamptz 'epoch' + u.t * interval '1 microsecond' AND ins.rule = u.r
            GROUP BY u.b
            """, [PostgresText.array(d), PostgresText.array(m), PostgresText.array(t), PostgresText.array(v),
                  PostgresText.array(rule), PostgresText.array(severity), PostgresText.array(owner)])
        for row in result.rows {
            if let b = row[0].flatMap({ Int($0) }), let n = row[1].flatMap({ Int($0) }), b < counts.count { counts[b] = n }
        }
        return counts
    }

    private struct SampleKey: Hashable {
        var device: Int
        var metric: Int
        var ts: Int64
    }

    /// Looks up the ids of `names` in `table` (`devices` or `metrics`) into `cache`, inserting the
    /// unknown ones; returns the names refused because `table` already holds `limit` names.
    ///
    /// Names are looked up first and only missing ones inserted, so no identity value is burned
    /// for a name that exists. With a `limit`, the count and the insert run in a transaction of
    /// their own under an advisory lock, so processors admitting names at once never exceed it.
    @discardableResult
    private func resolve(names: [String], table: String, cache: inout [String: Int32], limit: Int?,
                         _ pg: PostgresConnection) throws(PostgresError) -> Set<String> {
        func lookup(_ names: [String]) throws(PostgresError) {
            for row in try pg.query("SELECT id, name FROM \(table) WHERE name = ANY($1::text[])", [PostgresText.array(names)]).rows {
                if let id = row[0].flatMap({ Int32($0) }), let name = row[1] { cache[name] = id }
            }
        }
        let missing = names.filter { cache[$0] == nil }
        guard !missing.isEmpty else { return [] }
        try lookup(missing)
        var unknown = missing.filter { cache[$0] == nil }
        guard !unknown.isEmpty else { return [] }
        guard let limit else {
            try pg.query("INSERT INTO \(table) (name) SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING", [PostgresText.array(unknown)])
            try lookup(unknown)
            return Set(unknown.filter { cache[$0] == nil })
        }
        try pg.execute("BEGIN")
        do throws(PostgresError) {
            try pg.query("SELECT pg_advisory_xact_lock(hashtext($1))", ["telemetry_names_\(table)"])
            try lookup(unknown)  // another processor may have added some meanwhile
            unknown = unknown.filter { cache[$0] == nil }
            let count = Int(try pg.execute("SELECT count(*) FROM \(table)").rows.first?[0] ?? "") ?? 0
            let admitted = Array(unknown.sorted().prefix(max(0, limit - count)))
            if !admitted.isEmpty {
                try pg.query("INSERT INTO \(table) (name) SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING", [PostgresText.array(admitted)])
            }
            try pg.execute("COMMIT")
        } catch {
            if pg.isUsable { _ = try? pg.execute("ROLLBACK") }
            throw error
        }
        try lookup(unknown)
        let refused = Set(unknown.filter { cache[$0] == nil })
        if !refused.isEmpty {
            logger.warning("new metric names refused: the deployment holds validation.max_metric_names names",
                           metadata: ["refused": "\(refused.count)", "limit": "\(limit)", "first": "\(PrintableName(refused.sorted()[0]))"])
        }
        return refused
    }

    private func ensurePartitions(for batches: [StorageBatch], _ pg: PostgresConnection) throws(PostgresError) {
        var days = Set<Int>()
        for batch in batches {
            var last = Int.min
            for sample in batch.samples {
                let day = Timestamp.dayNumber(micros: sample.timestampMicros)
                if day != last && !knownPartitions.contains(day) { days.insert(day) }
                last = day
            }
        }
        for day in days.sorted() {
            try pg.query("SELECT telemetry_ensure_partition($1::date)", [PartitionPlanner.date(day: day)])
            knownPartitions.insert(day)
        }
    }

    /// The partition task: creates today's and `aheadDays` more partitions, drops those past
    /// `retentionDays`, deletes aggregates past `aggregateRetentionDays` and idempotency records
    /// older than `idempotencyDays`. `nowMicros` is injected so tests can drive days.
    @discardableResult
    public func maintainPartitions(nowMicros: Int64, aheadDays: Int, retentionDays: Int, aggregateRetentionDays: Int,
                                   idempotencyDays: Int = 8) throws(PostgresError) -> PartitionPlan {
        let pg = try live()
        let existing = try pg.execute("""
            SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'samples'::regclass
            """).rows.compactMap { $0[0] }
        let today = Timestamp.dayNumber(micros: nowMicros)
        let plan = PartitionPlanner.plan(today: today, aheadDays: aheadDays, retentionDays: retentionDays, existing: existing)
        for day in plan.create {
            try pg.query("SELECT telemetry_ensure_partition($1::date)", [PartitionPlanner.date(day: day)])
            knownPartitions.insert(day)
        }
        for name in plan.drop {
            try pg.execute("DROP TABLE IF EXISTS \"\(name)\"")
            if let day = PartitionPlanner.day(of: name) { knownPartitions.remove(day) }
        }
        try pg.query("DELETE FROM aggregates_1m WHERE bucket < timestamptz 'epoch' + $1::bigint * interval '1 microsecond'",
                     [String(nowMicros - Int64(aggregateRetentionDays) * 86_400_000_000)])
        try pg.query("DELETE FROM ingested_batches WHERE committed_at < timestamptz 'epoch' + $1::bigint * interval '1 microsecond'",
                     [String(nowMicros - Int64(idempotencyDays) * 86_400_000_000)])
        if !plan.create.isEmpty || !plan.drop.isEmpty {
            logger.info("partitions maintained", metadata: ["created": "\(plan.create.map(PartitionPlanner.name(day:)))", "dropped": "\(plan.drop)"])
        }
        return plan
    }

    private func live() throws(PostgresError) -> PostgresConnection {
        if let connection, connection.isUsable { return connection }
        connection = nil
        let fresh = try PostgresConnection(conninfo: conninfo)
        connection = fresh
        return fresh
    }
}

/// Text encodings for libpq text parameters.
enum PostgresText {
    /// A PostgreSQL array literal, every element quoted.
    static func array(_ elements: [String]) -> String {
        var out = "{"
        out.reserveCapacity(elements.reduce(2) { $0 + $1.utf8.count + 3 })
        for (i, e) in elements.enumerated() {
            if i > 0 { out += "," }
            out += "\""
            // Most elements (numbers, names) need no escape: appended whole, not scalar by scalar.
            if e.utf8.contains(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
                for ch in e.unicodeScalars {
                    if ch == "\"" || ch == "\\" { out += "\\" }
                    out.unicodeScalars.append(ch)
                }
            } else {
                out += e
            }
            out += "\""
        }
        return out + "}"
    }

    /// A JSON string literal.
    static func jsonString(_ s: String) -> String {
        guard s.utf8.contains(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") || $0 < 0x20 }) else { return "\"" + s + "\"" }
        var out = "\""
        for ch in s.unicodeScalars {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where ch.value < 0x20:
                let hex = String(ch.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(ch)
            }
        }
        return out + "\""
    }
}
