import Postgres
import TelemetryCore

/// The SQL side of ``Rollup``: per-minute aggregates, latest values and alerts of a group, each
/// one statement.
extension StorageActor {
    func upsertAggregates(_ group: [Resolved], inserted: [Bool]?, _ pg: PostgresConnection) throws(PostgresError) {
        let minutes = Rollup.minutes(group, inserted: inserted)
        guard !minutes.isEmpty else { return }
        var d: [String] = [], m: [String] = [], b: [String] = [], c: [String] = [], s: [String] = [], lo: [String] = [], hi: [String] = []
        for (key, a) in minutes {
            for (index, part) in ([a.sum] + a.parts).enumerated() {
                d.append(String(key.device)); m.append(String(key.metric)); b.append(String(key.minute))
                c.append(String(index == 0 ? a.count : 0)); s.append("\(part)"); lo.append("\(a.min)"); hi.append("\(a.max)")
            }
        }
        // The parts of one key are summed in numeric; rows go in key order (no deadlock between
        // processors upserting overlapping keys). The same minutes roll up into their UTC hour
        // and day in the same statement (and so the same transaction as the samples).
        try pg.query("""
            WITH u AS (
                SELECT d, m, timestamptz 'epoch' + b * interval '1 second' AS t, c, s, lo, hi
                FROM unnest($1::int[], $2::int[], $3::bigint[], $4::bigint[], $5::numeric[], $6::float8[], $7::float8[])
                    AS u(d, m, b, c, s, lo, hi)),
            minute AS (
                INSERT INTO aggregates_1m AS a (device_id, metric_id, bucket, count, sum, min, max)
                SELECT d, m, t, sum(c), sum(s), min(lo), max(hi) FROM u
                GROUP BY d, m, t ORDER BY d, m, t
                ON CONFLICT (device_id, metric_id, bucket) DO UPDATE SET
                    count = a.count + excluded.count, sum = a.sum + excluded.sum,
                    min = least(a.min, excluded.min), max = greatest(a.max, excluded.max)),
            hour AS (
                INSERT INTO aggregates_1h AS a (device_id, metric_id, bucket, count, sum, min, max)
                SELECT d, m, date_bin('1 hour', t, timestamptz 'epoch') AS h, sum(c), sum(s), min(lo), max(hi) FROM u
                GROUP BY d, m, h ORDER BY d, m, h
                ON CONFLICT (device_id, metric_id, bucket) DO UPDATE SET
                    count = a.count + excluded.count, sum = a.sum + excluded.sum,
                    min = least(a.min, excluded.min), max = greatest(a.max, excluded.max))
            INSERT INTO aggregates_1d AS a (device_id, metric_id, bucket, count, sum, min, max)
            SELECT d, m, date_bin('1 day', t, timestamptz 'epoch') AS day, sum(c), sum(s), min(lo), max(hi) FROM u
            GROUP BY d, m, day ORDER BY d, m, day
            ON CONFLICT (device_id, metric_id, bucket) DO UPDATE SET
                count = a.count + excluded.count, sum = a.sum + excluded.sum,
                min = least(a.min, excluded.min), max = greatest(a.max, excluded.max)
            """, [PostgresText.array(d), PostgresText.array(m), PostgresText.array(b), PostgresText.array(c),
                  PostgresText.array(s), PostgresText.array(lo), PostgresText.array(hi)])
    }

    /// Upserts `latest_values`, one row per (device, metric), keeping the newer sample time (the
    /// same rule as the cache); returns what it wrote, for the cache's write-through after COMMIT.
    @discardableResult
    func upsertLatest(_ group: [Resolved], inserted: [Bool]?, _ pg: PostgresConnection) throws(PostgresError) -> [(device: Int32, tenant: String?, name: String, metrics: [Rollup.Latest])] {
        let newest = Rollup.newest(group, inserted: inserted)
        guard !newest.isEmpty else { return newest }
        var d: [String] = [], m: [String] = [], t: [String] = [], v: [String] = []
        // In key order, so concurrent processors lock latest_values rows in the same order.
        for (device, _, _, metrics) in newest {
            for latest in metrics.sorted(by: { $0.metricID < $1.metricID }) {
                d.append(String(device)); m.append(String(latest.metricID)); t.append(String(latest.timestampMicros)); v.append("\(latest.value)")
            }
        }
        try pg.query("""
            INSERT INTO latest_values AS l (device_id, metric_id, ts, value)
            SELECT d, m, timestamptz 'epoch' + t * interval '1 microsecond', v
            FROM unnest($1::int[], $2::int[], $3::bigint[], $4::float8[]) AS u(d, m, t, v)
            ORDER BY d, m
            ON CONFLICT (device_id, metric_id) DO UPDATE SET ts = excluded.ts, value = excluded.value, updated_at = now()
            WHERE excluded.ts > l.ts
            """, [PostgresText.array(d), PostgresText.array(m), PostgresText.array(t), PostgresText.array(v)])
        return newest
    }

    /// Inserts the alerts of inserted samples; returns how many each batch of the group added.
    func insertAlerts(_ group: [Resolved], inserted: [Bool]?, _ pg: PostgresConnection) throws(PostgresError) -> [Int] {
        var counts = [Int](repeating: 0, count: group.count)
        let alerts = Rollup.alerts(group, inserted: inserted)
        guard !alerts.isEmpty else { return counts }
        var d: [String] = [], m: [String] = [], t: [String] = [], v: [String] = [], rule: [String] = [], severity: [String] = [], owner: [String] = []
        for (position, alert) in alerts {
            let r = group[position]
            d.append(String(r.devices[alert.device])); m.append(String(r.metrics[alert.metric]))
            t.append(String(alert.timestampMicros)); v.append("\(alert.value)")
            rule.append(alert.rule); severity.append(alert.severity); owner.append(String(position))
        }
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
}
