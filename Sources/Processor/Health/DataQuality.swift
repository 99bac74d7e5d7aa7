import Foundation
import Postgres
import Synchronization
import TelemetryCore

/// Samples refused by validation, counted by device, metric and reason until the next flush to
/// `data_quality_rejections`. Bounded: past `capacity` distinct keys, new ones are counted under
/// the device and metric `(other)` (with their reason), and the overflow is counted.
package final class QualityRejections: Sendable {
    package struct Key: Hashable, Sendable {
        package var device: String
        package var metric: String
        package var reason: String
        package init(device: String, metric: String, reason: String) {
            self.device = device
            self.metric = metric
            self.reason = reason
        }
    }

    package static let capacity = 10_000
    private let counts = Mutex<[Key: Int]>([:])

    package init() {}

    package func record(_ keys: [Key]) {
        guard !keys.isEmpty else { return }
        counts.withLock { counts in
            for key in keys {
                if counts[key] != nil || counts.count < Self.capacity {
                    counts[key, default: 0] += 1
                } else {
                    counts[Key(device: "(other)", metric: "(other)", reason: key.reason), default: 0] += 1
                }
            }
        }
    }

    /// Takes every count (they start again from zero).
    package func drain() -> [Key: Int] { counts.withLock { counts in defer { counts = [:] }; return counts } }

    /// Puts counts back (a flush that failed).
    package func restore(_ taken: [Key: Int]) {
        counts.withLock { counts in for (key, n) in taken { counts[key, default: 0] += n } }
    }
}

/// What `/metrics` shows of the data quality of the current hour: a bounded few series.
package struct QualitySnapshot: Sendable, Equatable {
    package struct Series: Sendable, Equatable {
        package var device: String
        package var metric: String
        package var value: Double
        package var reason: String = ""
    }
    /// The lowest completeness ratios (at most ``QualitySnapshot/top``).
    package var worstCompleteness: [Series] = []
    /// The highest p99 lateness (s).
    package var worstLateness: [Series] = []
    /// The most rejected device/metric/reason (samples).
    package var worstRejected: [Series] = []
    /// Lateness of every sample of the hour: p50 and p99 (s).
    package var latenessP50: Double?
    package var latenessP99: Double?
    /// Samples refused this hour, by reason.
    package var rejectedByReason: [String: Int] = [:]
    /// Series below 0.9 completeness.
    package var incompleteSeries = 0

    package static let top = 10
}

extension HealthChecker {
    /// Adds `counts` to this hour's `data_quality_rejections` (every processor flushes its own).
    package func flush(rejections counts: [QualityRejections.Key: Int], hourMicros: Int64) throws {
        guard !counts.isEmpty else { return }
        let keys = Array(counts.keys).sorted { ($0.device, $0.metric, $0.reason) < ($1.device, $1.metric, $1.reason) }
        let pg = try openConnection()
        try pg.query("""
            INSERT INTO data_quality_rejections AS q (hour, device, metric, reason, rejected)
            SELECT (timestamptz 'epoch' + $1::bigint * interval '1 microsecond'), d, m, r, n FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[]) AS u (d, m, r, n)
            ON CONFLICT (hour, device, metric, reason) DO UPDATE SET rejected = q.rejected + EXCLUDED.rejected
            """, [String(hourMicros), PostgresText.array(keys.map(\.device)), PostgresText.array(keys.map(\.metric)),
                  PostgresText.array(keys.map(\.reason)), PostgresText.array(keys.map { String(counts[$0] ?? 0) })])
    }

    /// Computes `data_quality` for the hour starting at `hourMicros`, as far as the pipeline's
    /// `watermarkMicros`: per series known in the last day, readings received, expected (the
    /// window over the device's interval; the window starts with the hour or with the device's
    /// first reading), completeness and lateness percentiles; then the snapshot for `/metrics`.
    func computeQuality(_ pg: PostgresConnection, hourMicros: Int64, watermarkMicros: Int64) throws -> QualitySnapshot {
        let hour = String(hourMicros), end = String(min(watermarkMicros, hourMicros + 3_600_000_000))
        try pg.query("""
            WITH got AS (
                SELECT device_id, metric_id, count(*) AS n,
                       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM ingested_at - ts)) AS p50,
                       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM ingested_at - ts)) AS p99
                FROM samples WHERE ts >= (timestamptz 'epoch' + $1::bigint * interval '1 microsecond') AND ts < (timestamptz 'epoch' + $1::bigint * interval '1 microsecond') + interval '1 hour'
                GROUP BY 1, 2),
            series AS (
                SELECT l.device_id, l.metric_id FROM latest_values l WHERE l.ts >= (timestamptz 'epoch' + $1::bigint * interval '1 microsecond') - interval '1 day'
                UNION SELECT device_id, metric_id FROM got),
            windowed AS (
                SELECT s.device_id, s.metric_id, coalesce(g.n, 0) AS n, g.p50, g.p99,
                       CASE WHEN h.configured THEN h.interval_s ELSE coalesce(sh.interval_s, h.interval_s) END AS interval_s,
                       greatest(0, $2::float8 / 1e6 - greatest($1::float8 / 1e6, extract(epoch FROM d.created_at))) AS seconds
                FROM series s JOIN devices d ON d.id = s.device_id LEFT JOIN got g USING (device_id, metric_id)
                LEFT JOIN device_health h ON h.device_id = s.device_id
                LEFT JOIN series_health sh ON sh.device_id = s.device_id AND sh.metric_id = s.metric_id)
            INSERT INTO data_quality AS q (hour, device_id, metric_id, received, expected, completeness, lateness_p50_s, lateness_p99_s)
            SELECT (timestamptz 'epoch' + $1::bigint * interval '1 microsecond'), device_id, metric_id, n, seconds / interval_s,
                   CASE WHEN interval_s > 0 AND seconds >= interval_s THEN n / (seconds / interval_s) END, p50, p99
            FROM windowed
            ON CONFLICT (hour, device_id, metric_id) DO UPDATE SET received = EXCLUDED.received, expected = EXCLUDED.expected,
                completeness = EXCLUDED.completeness, lateness_p50_s = EXCLUDED.lateness_p50_s, lateness_p99_s = EXCLUDED.lateness_p99_s, computed_at = now()
            """, [hour, end])
        var snapshot = QualitySnapshot()
        func series(_ sql: String) throws -> [QualitySnapshot.Series] {
            try pg.query(sql, [hour, String(QualitySnapshot.top)]).rows.compactMap { row in
                guard let device = row[0], let metric = row[1], let value = row[2].flatMap({ Double($0) }) else { return nil }
                return QualitySnapshot.Series(device: device, metric: metric, value: value, reason: row.count > 3 ? row[3] ?? "" : "")
            }
        }
        let names = "JOIN devices d ON d.id = q.device_id JOIN metrics m ON m.id = q.metric_id WHERE q.hour = (timestamptz 'epoch' + $1::bigint * interval '1 microsecond')"
        snapshot.worstCompleteness = try series("SELECT d.name, m.name, q.completeness FROM data_quality q \(names) AND q.completeness IS NOT NULL ORDER BY 3, 1, 2 LIMIT $2::int")
        snapshot.worstLateness = try series("SELECT d.name, m.name, q.lateness_p99_s FROM data_quality q \(names) AND q.lateness_p99_s IS NOT NULL ORDER BY 3 DESC, 1, 2 LIMIT $2::int")
        snapshot.worstRejected = try series("""
            SELECT device, metric, rejected, reason FROM data_quality_rejections WHERE hour = (timestamptz 'epoch' + $1::bigint * interval '1 microsecond') ORDER BY 3 DESC, 1, 2, 4 LIMIT $2::int
            """)
        snapshot.incompleteSeries = Int(try pg.query("SELECT count(*) FROM data_quality q WHERE hour = (timestamptz 'epoch' + $1::bigint * interval '1 microsecond') AND completeness < 0.9",
                                                     [hour]).rows.first?[0] ?? "") ?? 0
        for row in try pg.query("SELECT reason, sum(rejected) FROM data_quality_rejections WHERE hour = (timestamptz 'epoch' + $1::bigint * interval '1 microsecond') GROUP BY 1", [hour]).rows {
            if let reason = row[0], let n = row[1].flatMap({ Int($0) }) { snapshot.rejectedByReason[reason] = n }
        }
        let lateness = try pg.query("""
            SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM ingested_at - ts)),
                   percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM ingested_at - ts))
            FROM samples WHERE ts >= (timestamptz 'epoch' + $1::bigint * interval '1 microsecond') AND ts < (timestamptz 'epoch' + $1::bigint * interval '1 microsecond') + interval '1 hour'
            """, [hour]).rows.first
        snapshot.latenessP50 = lateness?[0].flatMap { Double($0) }
        snapshot.latenessP99 = lateness?[1].flatMap { Double($0) }
        return snapshot
    }
}
