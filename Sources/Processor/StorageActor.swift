import Logging
public import Postgres
public import TelemetryCore

/// Owns the processor's PostgreSQL connection and writes batches exactly once.
///
/// The actor runs on a thread of its own (libpq blocks). One batch is one transaction:
/// 1. record the batch id in `ingested_batches`; if it is already there, the batch is done;
/// 2. binary `COPY` straight into `samples` (the fast path); if that hits the unique key (a sample
///    re-sent inside another batch), fall back to a staging table + `INSERT … ON CONFLICT DO NOTHING`
///    and count what was skipped (LIMITS.md measures both paths);
/// 3. add the inserted samples (only those) to `aggregates_1m`, upsert `device_latest`, insert alerts
///    of inserted samples; 4. commit. The caller acknowledges the entry only after that.
public actor StorageActor {
    private nonisolated let executor = ThreadExecutor(name: "storage")
    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    private let conninfo: String
    private let logger: Logger
    private var connection: PostgresConnection?
    private var deviceIDs: [String: Int32] = [:]
    private var metricIDs: [String: Int32] = [:]
    private var knownPartitions: Set<Int> = []

    public init(conninfo: String, logger: Logger) {
        self.conninfo = conninfo
        self.logger = logger
    }

    /// Connects (if needed) and applies pending migrations; returns the versions applied.
    @discardableResult
    public func prepare() throws(PostgresError) -> [Int] {
        try MigrationRunner.migrate(try live(), migrations: Schema.migrations)
    }

    /// True when a trivial query succeeds.
    public func ping() -> Bool {
        (try? live().execute("SELECT 1")) != nil
    }

    /// Writes `batch` in one transaction (see the type's documentation).
    public func write(_ batch: StorageBatch) throws(PostgresError) -> StorageOutcome {
        let pg = try live()
        do {
            return try write(batch, pg)
        } catch {
            if pg.isUsable { _ = try? pg.execute("ROLLBACK") } else { connection = nil }
            if error.sqlState == "23514" { knownPartitions.removeAll() }  // no partition for a row
            throw error
        }
    }

    private func write(_ batch: StorageBatch, _ pg: PostgresConnection) throws(PostgresError) -> StorageOutcome {
        let devices = try resolve(names: batch.deviceNames, table: "devices", cache: &deviceIDs, pg)
        let metrics = try resolve(names: batch.metricNames, table: "metrics", cache: &metricIDs, pg).map { Int16($0) }
        try ensurePartitions(for: batch.samples, pg)

        try pg.execute("BEGIN")
        let claim = try pg.query("INSERT INTO ingested_batches (batch_id, samples) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                                 [batch.id, String(batch.samples.count)])
        if claim.affected == 0 {
            try pg.execute("ROLLBACK")
            return StorageOutcome(duplicateBatch: true, inserted: 0, duplicates: batch.samples.count, conflictingValues: 0, alertsInserted: 0)
        }
        var copy = BinaryCopyWriter(reservingRows: batch.samples.count, bytesPerRow: 40)
        for sample in batch.samples {
            copy.beginRow(fields: 4)
            copy.int32(devices[Int(sample.deviceIndex)])
            copy.int16(metrics[Int(sample.metricIndex)])
            copy.timestamptz(unixMicros: sample.timestampMicros)
            copy.float8(sample.value)
        }
        let data = copy.finish()
        try pg.execute("SAVEPOINT bulk")
        var inserted: [Bool]?  // nil: every sample was inserted
        var conflicting = 0
        do {
            try pg.copyIn("COPY samples (device_id, metric_id, ts, value) FROM STDIN (FORMAT binary)", data: data)
        } catch where error.isUniqueViolation {
            try pg.execute("ROLLBACK TO SAVEPOINT bulk")
            (inserted, conflicting) = try insertSkippingDuplicates(batch, devices: devices, metrics: metrics, pg)
        }
        try pg.execute("RELEASE SAVEPOINT bulk")

        try upsertAggregates(batch, devices: devices, metrics: metrics, inserted: inserted, pg)
        try upsertLatest(batch, devices: devices, inserted: inserted, pg)
        let alerts = try insertAlerts(batch, devices: devices, metrics: metrics, inserted: inserted, pg)
        try pg.execute("COMMIT")
        let insertedCount = inserted.map { $0.lazy.filter { $0 }.count } ?? batch.samples.count
        return StorageOutcome(duplicateBatch: false, inserted: insertedCount, duplicates: batch.samples.count - insertedCount,
                              conflictingValues: conflicting, alertsInserted: alerts)
    }

    /// The slow path: stage, insert what is new, report which samples went in (the first of equal keys).
    private func insertSkippingDuplicates(_ batch: StorageBatch, devices: [Int32], metrics: [Int16],
                                          _ pg: PostgresConnection) throws(PostgresError) -> ([Bool], Int) {
        try pg.execute("""
            CREATE TEMP TABLE IF NOT EXISTS samples_staging (
                ord integer, device_id integer, metric_id smallint, ts timestamptz, value double precision
            ) ON COMMIT DELETE ROWS
            """)
        var copy = BinaryCopyWriter(reservingRows: batch.samples.count, bytesPerRow: 48)
        for (ord, sample) in batch.samples.enumerated() {
            copy.beginRow(fields: 5)
            copy.int32(Int32(ord))
            copy.int32(devices[Int(sample.deviceIndex)])
            copy.int16(metrics[Int(sample.metricIndex)])
            copy.timestamptz(unixMicros: sample.timestampMicros)
            copy.float8(sample.value)
        }
        try pg.copyIn("COPY samples_staging (ord, device_id, metric_id, ts, value) FROM STDIN (FORMAT binary)", data: copy.finish())
        let rows = try pg.execute("""
            WITH firsts AS (
                SELECT DISTINCT ON (device_id, metric_id, ts) ord, device_id, metric_id, ts, value
                FROM samples_staging ORDER BY device_id, metric_id, ts, ord),
            ins AS (
                INSERT INTO samples (device_id, metric_id, ts, value)
                SELECT device_id, metric_id, ts, value FROM firsts ORDER BY ord
                ON CONFLICT DO NOTHING RETURNING device_id, metric_id, ts)
            SELECT f.ord FROM firsts f JOIN ins USING (device_id, metric_id, ts)
            """)
        var inserted = [Bool](repeating: false, count: batch.samples.count)
        for row in rows.rows { if let ord = row[0].flatMap({ Int($0) }) { inserted[ord] = true } }
        let conflicts = try pg.execute("""
            SELECT count(*) FROM samples_staging s JOIN samples t USING (device_id, metric_id, ts)
            WHERE t.value IS DISTINCT FROM s.value
            """)
        let conflicting = Int(conflicts.rows.first?[0] ?? "0") ?? 0
        if conflicting > 0 {
            logger.warning("samples with an already stored key and a different value were skipped (first value kept)",
                           metadata: ["batch_id": "\(batch.id)", "conflicting_value": "\(conflicting)"])
        }
        return (inserted, conflicting)
    }

    private struct AggregateKey: Hashable {
        var device: Int32
        var metric: Int16
        var minute: Int64
    }

    private struct Aggregate {
        var count = 0
        var sum = 0.0
        var min = Double.infinity
        var max = -Double.infinity
    }

    private func upsertAggregates(_ batch: StorageBatch, devices: [Int32], metrics: [Int16], inserted: [Bool]?,
                                  _ pg: PostgresConnection) throws(PostgresError) {
        var aggregates: [AggregateKey: Aggregate] = [:]
        for (index, sample) in batch.samples.enumerated() where inserted?[index] ?? true {
            let seconds = sample.timestampMicros >= 0 ? sample.timestampMicros / 1_000_000 : (sample.timestampMicros - 999_999) / 1_000_000
            let minute = (seconds >= 0 ? seconds / 60 : (seconds - 59) / 60) * 60
            let key = AggregateKey(device: devices[Int(sample.deviceIndex)], metric: metrics[Int(sample.metricIndex)], minute: minute)
            var a = aggregates[key, default: Aggregate()]
            a.count += 1
            a.sum += sample.value
            a.min = Swift.min(a.min, sample.value)
            a.max = Swift.max(a.max, sample.value)
            aggregates[key] = a
        }
        guard !aggregates.isEmpty else { return }
        var d: [String] = [], m: [String] = [], b: [String] = [], c: [String] = [], s: [String] = [], lo: [String] = [], hi: [String] = []
        for (key, a) in aggregates {
            d.append(String(key.device)); m.append(String(key.metric)); b.append(String(key.minute))
            c.append(String(a.count)); s.append("\(a.sum)"); lo.append("\(a.min)"); hi.append("\(a.max)")
        }
        try pg.query("""
            INSERT INTO aggregates_1m AS a (device_id, metric_id, bucket, count, sum, min, max)
            SELECT d, m, timestamptz 'epoch' + b * interval '1 second', c, s, lo, hi
            FROM unnest($1::int[], $2::smallint[], $3::bigint[], $4::bigint[], $5::float8[], $6::float8[], $7::float8[])
                AS u(d, m, b, c, s, lo, hi)
            ON CONFLICT (device_id, metric_id, bucket) DO UPDATE SET
                count = a.count + excluded.count, sum = a.sum + excluded.sum,
                min = least(a.min, excluded.min), max = greatest(a.max, excluded.max)
            """, [PostgresText.array(d), PostgresText.array(m), PostgresText.array(b), PostgresText.array(c),
                  PostgresText.array(s), PostgresText.array(lo), PostgresText.array(hi)])
    }

    private func upsertLatest(_ batch: StorageBatch, devices: [Int32], inserted: [Bool]?, _ pg: PostgresConnection) throws(PostgresError) {
        // Newest sample per (device, metric) of this batch, by sample time.
        var newest: [Int: [Int: Sample]] = [:]
        for (index, sample) in batch.samples.enumerated() where inserted?[index] ?? true {
            let device = Int(sample.deviceIndex), metric = Int(sample.metricIndex)
            if let current = newest[device]?[metric], current.timestampMicros >= sample.timestampMicros { continue }
            newest[device, default: [:]][metric] = sample
        }
        guard !newest.isEmpty else { return }
        var json = "["
        for (n, (device, perMetric)) in newest.enumerated() {
            if n > 0 { json += "," }
            json += "{\"d\":\(devices[device]),\"a\":{"
            for (k, (metric, sample)) in perMetric.enumerated() {
                if k > 0 { json += "," }
                json += "\(PostgresText.jsonString(batch.metricNames[metric])):{\"value\":\(sample.value),\"ts\":\"\(Timestamp.formatRFC3339(micros: sample.timestampMicros))\"}"
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

    private func insertAlerts(_ batch: StorageBatch, devices: [Int32], metrics: [Int16], inserted: [Bool]?,
                              _ pg: PostgresConnection) throws(PostgresError) -> Int {
        var alerts = batch.alerts
        if let inserted {
            // Only alerts of samples that went in: a re-sent sample must not fire again.
            var insertedKeys = Set<SampleKey>()
            for (index, sample) in batch.samples.enumerated() where inserted[index] {
                insertedKeys.insert(SampleKey(device: Int(sample.deviceIndex), metric: Int(sample.metricIndex), ts: sample.timestampMicros))
            }
            alerts.removeAll { !insertedKeys.contains(SampleKey(device: $0.device, metric: $0.metric, ts: $0.timestampMicros)) }
        }
        guard !alerts.isEmpty else { return 0 }
        let result = try pg.query("""
            INSERT INTO alerts (device_id, metric_id, ts, value, rule, severity)
            SELECT d, m, timestamptz 'epoch' + t * interval '1 microsecond', v, r, s
            FROM unnest($1::int[], $2::smallint[], $3::bigint[], $4::float8[], $5::text[], $6::text[]) AS u(d, m, t, v, r, s)
            ON CONFLICT DO NOTHING
            """, [PostgresText.array(alerts.map { String(devices[$0.device]) }),
                  PostgresText.array(alerts.map { String(metrics[$0.metric]) }),
                  PostgresText.array(alerts.map { String($0.timestampMicros) }),
                  PostgresText.array(alerts.map { "\($0.value)" }),
                  PostgresText.array(alerts.map(\.rule)),
                  PostgresText.array(alerts.map(\.severity))])
        return result.affected
    }

    private struct SampleKey: Hashable {
        var device: Int
        var metric: Int
        var ts: Int64
    }

    /// Ids of `names` in `table` (`devices` or `metrics`), inserting unknown names.
    private func resolve(names: [String], table: String, cache: inout [String: Int32],
                         _ pg: PostgresConnection) throws(PostgresError) -> [Int32] {
        let missing = names.filter { cache[$0] == nil }
        if !missing.isEmpty {
            let list = PostgresText.array(missing)
            try pg.query("INSERT INTO \(table) (name) SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING", [list])
            for row in try pg.query("SELECT id, name FROM \(table) WHERE name = ANY($1::text[])", [list]).rows {
                if let id = row[0].flatMap({ Int32($0) }), let name = row[1] { cache[name] = id }
            }
        }
        var ids: [Int32] = []
        ids.reserveCapacity(names.count)
        for name in names {
            guard let id = cache[name] else {
                throw PostgresError(.server, "\(table) has no row for \(name)")
            }
            ids.append(id)
        }
        return ids
    }

    private func ensurePartitions(for samples: [Sample], _ pg: PostgresConnection) throws(PostgresError) {
        var days = Set<Int>()
        for sample in samples {
            let day = Timestamp.dayNumber(micros: sample.timestampMicros)
            if !knownPartitions.contains(day) { days.insert(day) }
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
        for (i, e) in elements.enumerated() {
            if i > 0 { out += "," }
            out += "\""
            for ch in e.unicodeScalars {
                if ch == "\"" || ch == "\\" { out += "\\" }
                out.unicodeScalars.append(ch)
            }
            out += "\""
        }
        return out + "}"
    }

    /// A JSON string literal.
    static func jsonString(_ s: String) -> String {
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
