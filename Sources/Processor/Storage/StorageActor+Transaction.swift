import Logging
import Postgres
import Redis
import TelemetryCore

/// One group's transaction script (see ``StorageActor``): record the batch ids, copy the new
/// samples, then roll them up.
extension StorageActor {
    /// One batch of a group with its names resolved to ids, and where its rows start.
    struct Resolved: Sendable {
        var batch: StorageBatch
        var devices: [Int32]
        var metrics: [Int32]
        var firstRow: Int
    }

    func write(_ batches: [StorageBatch], _ pg: PostgresConnection) throws(PostgresError) -> [StorageOutcome] {
        // The group's new names in one round trip per table; then each batch's ids from the cache.
        // Only names its samples use: a table may also list names whose samples were refused.
        var usedDevices = Set(batches.flatMap { b in b.series.devices.map { DeviceKey(tenant: b.tenant, name: b.deviceNames[Int($0)]) } })
        for batch in batches { for label in batch.labels { usedDevices.insert(DeviceKey(tenant: batch.tenant, name: batch.deviceNames[Int(label.deviceIndex)])) } }
        let usedMetrics = Set(batches.flatMap { b in b.series.metrics.map { b.metricNames[Int($0)] } })
        // Sorted: processors inserting the same new names take their index locks in one order.
        try resolveDevices(usedDevices, pg)
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
            (devices: batch.deviceNames.map { deviceIDs[DeviceKey(tenant: batch.tenant, name: $0)] ?? -1 }, metrics: batch.metricNames.map { metricIDs[$0] ?? -1 })
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

        if !plainWrites { try upsertAggregates(group, inserted: inserted, pg) }
        let latest = plainWrites ? [] : try upsertLatest(group, inserted: inserted, pg)
        let alerts = try insertAlerts(group, inserted: inserted, pg)
        try recordLabels(group, pg)
        try recordPositions(batches.compactMap(\.position), pg)
        try countLakeChanges(group, inserted: inserted, pg)
        try pg.execute("COMMIT")
        // After COMMIT, handed to the writer's own thread: one pipelined round trip per
        // transaction; a failure is counted and never fails or slows the group.
        if !latest.isEmpty {
            cache?.submit(latest.map { device in
                (device.tenant, device.name, device.metrics.map { LatestCache.Entry(metric: $0.metric, timestampMicros: $0.timestampMicros, value: $0.value) })
            }, nowMillis: wallClockMicros() / 1000)
        }
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

    /// Records the group's device labels (Docs/http-ingest.md): each device's latest value per
    /// kind and key in `device_labels`, and in `device_label_changes` a label's first value and
    /// every later one that differs from the value of the latest reading so far. A label from a
    /// reading older than the latest one seen changes nothing.
    func recordLabels(_ group: [Resolved], _ pg: PostgresConnection) throws(PostgresError) {
        struct Key: Hashable {
            var device: Int32
            var kind: DeviceLabel.Kind
            var key: String
        }
        var latest: [Key: (value: String, micros: Int64)] = [:]
        for r in group {
            for label in r.batch.labels {
                let key = Key(device: r.devices[Int(label.deviceIndex)], kind: label.label.kind, key: label.label.key)
                if key.device >= 0, latest[key].map({ $0.micros <= label.timestampMicros }) ?? true {
                    latest[key] = (label.label.value, label.timestampMicros)
                }
            }
        }
        guard !latest.isEmpty else { return }
        // Sorted: processors updating the same labels lock them in one order.
        let rows = latest.sorted { ($0.key.device, $0.key.kind.rawValue, $0.key.key) < ($1.key.device, $1.key.kind.rawValue, $1.key.key) }
        let parameters = [PostgresText.array(rows.map { String($0.key.device) }), PostgresText.array(rows.map { $0.key.kind == .tag ? "tag" : "field" }),
                          PostgresText.array(rows.map(\.key.key)), PostgresText.array(rows.map(\.value.value)),
                          PostgresText.array(rows.map { Timestamp.formatRFC3339(micros: $0.value.micros) })]
        let input = "SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) AS i (device_id, kind, key, value, ts)"
        // First the labels never seen: inserted with their first change. The insert waits for a
        // concurrent transaction inserting the same key, so the next statement (a new snapshot)
        // sees what that one committed.
        try pg.query("""
            WITH input AS (\(input)),
            inserted AS (
                INSERT INTO device_labels (device_id, kind, key, value, value_since, last_seen)
                SELECT device_id, kind, key, value, ts, ts FROM input
                ON CONFLICT (device_id, kind, key) DO NOTHING RETURNING device_id, kind, key, value, value_since)
            INSERT INTO device_label_changes (device_id, kind, key, old_value, new_value, ts)
            SELECT device_id, kind, key, NULL, value, value_since FROM inserted
            """, parameters)
        // Then the others, locked: a later reading moves last_seen on, and records a change when
        // its value differs; an older one changes nothing.
        try pg.query("""
            WITH input AS (\(input)),
            current AS (
                SELECT l.device_id, l.kind, l.key, l.value, l.last_seen FROM device_labels l JOIN input i USING (device_id, kind, key)
                WHERE l.last_seen < i.ts OR l.value <> i.value
                ORDER BY l.device_id, l.kind, l.key FOR UPDATE OF l),
            changes AS (
                INSERT INTO device_label_changes (device_id, kind, key, old_value, new_value, ts)
                SELECT i.device_id, i.kind, i.key, c.value, i.value, i.ts FROM input i JOIN current c USING (device_id, kind, key)
                WHERE c.value <> i.value AND i.ts >= c.last_seen)
            UPDATE device_labels l SET value = i.value, last_seen = i.ts,
                value_since = CASE WHEN l.value = i.value THEN l.value_since ELSE i.ts END
            FROM input i JOIN current c USING (device_id, kind, key)
            WHERE (l.device_id, l.kind, l.key) = (i.device_id, i.kind, i.key) AND l.last_seen <= i.ts
            """, parameters)
    }

    /// Moves each stream's row of `stream_positions` forward to the furthest of `positions`, on
    /// the server's timeline (never back: a redelivered older entry committed later leaves it).
    /// A row from an older timeline stays as it is until the consumer has re-read the stream
    /// from it (``adoptTimeline(stream:at:)``): a processor stopped before then leaves the check
    /// to the next one.
    func recordPositions(_ positions: [StreamPosition], _ pg: PostgresConnection) throws(PostgresError) {
        let furthest = StreamPosition.furthest(positions)
        guard !furthest.isEmpty else { return }
        try pg.query("""
            INSERT INTO stream_positions AS p (stream, ms, seq, timeline)
            SELECT s, m, q, telemetry_timeline() FROM unnest($1::text[], $2::numeric[], $3::numeric[]) AS u (s, m, q)
            ON CONFLICT (stream) DO UPDATE SET ms = EXCLUDED.ms, seq = EXCLUDED.seq, timeline = EXCLUDED.timeline, committed_at = now()
            WHERE (p.ms, p.seq) < (EXCLUDED.ms, EXCLUDED.seq) AND p.timeline = EXCLUDED.timeline
            """, [PostgresText.array(furthest.map(\.stream)), PostgresText.array(furthest.map { String($0.id.milliseconds) }),
                  PostgresText.array(furthest.map { String($0.id.sequence) })])
    }

    /// Counts one change on `lake_days` for each UTC day before today that the group stored
    /// rows of (Docs/lake.md): the lake exporter re-exports such a day. Today's rows, the usual
    /// case, cost nothing; the days are locked in date order, so two late groups cannot deadlock.
    func countLakeChanges(_ group: [Resolved], inserted: [Bool]?, _ pg: PostgresConnection) throws(PostgresError) {
        let today = Int64(Timestamp.dayNumber(micros: wallClockMicros())) * 86_400_000_000
        var days = Set<Int>()
        var row = 0
        for r in group {
            for sample in r.batch.samples {
                if sample.timestampMicros < today && inserted.map({ $0[row] }) ?? true {
                    days.insert(Timestamp.dayNumber(micros: sample.timestampMicros))
                }
                row += 1
            }
        }
        guard !days.isEmpty else { return }
        try pg.query("""
            INSERT INTO lake_days AS l (day, changes) SELECT d, 1 FROM unnest($1::date[]) AS d ORDER BY d
            ON CONFLICT (day) DO UPDATE SET changes = l.changes + 1
            """, [PostgresText.array(days.sorted().map { LakeLayout.dayText($0) })])
    }

    /// The slow path: stage, insert what is new; returns which rows went in (the first of equal
    /// keys) and which were skipped carrying a different value than the stored one.
    func insertSkippingDuplicates(_ group: [Resolved], rows: Int, _ pg: PostgresConnection) throws(PostgresError) -> ([Bool], [Bool]) {
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
}
