import Foundation
import Logging
import Postgres
import Redis
import Synchronization
import TelemetryCore

/// Device silence (deadman, Docs/alerting.md): a device whose newest reading is older than its
/// expected interval × a factor raises one `silence` alert, and resolves it when it reports again.
///
/// "Older" is judged against the pipeline's own progress, not the wall clock: the watermark is
/// the time of the oldest stream entry not yet stored (now when everything is), so a paused or
/// lagging processor does not make every device look silent. The expected interval is the
/// device's group's (`health.group.<name>.interval_s`), else learnt from its rollups of the last
/// `health.learn_window_s`. One processor checks at a time (an advisory lock); the alert and the
/// outbox event are written in one transaction.
package actor HealthChecker {
    private nonisolated let executor: ThreadExecutor
    package nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    let settings: HealthConfiguration
    let logger: Logger
    private let session: SessionConnection
    /// The connection generation that holds the advisory lock (-1: none).
    private var leaderGeneration = -1
    private var learntAt: Int64 = 0

    /// Silence alerts raised and resolved; devices silent at the last check.
    package nonisolated let raised = Atomic<Int>(0)
    package nonisolated let resolved = Atomic<Int>(0)
    package nonisolated let silent = Atomic<Int>(0)
    /// How far the watermark was behind the clock at the last check (µs).
    package nonisolated let watermarkLagMicros = Atomic<Int64>(0)
    /// The current hour's data quality as `/metrics` shows it (nil before the first computation).
    package nonisolated let quality = Mutex<QualitySnapshot?>(nil)
    private var qualityAt: Int64 = 0
    private var finalizedHour: Int64 = 0

    package init(conninfo: String, settings: HealthConfiguration, logger: Logger) {
        executor = ThreadExecutor(name: "health")
        session = SessionConnection(conninfo: conninfo)
        self.settings = settings
        self.logger = logger
    }

    func openConnection() throws -> PostgresConnection { try session.live() }

    /// One check against `watermarkMicros`; does nothing while another processor holds the lock.
    package func check(watermarkMicros: Int64, nowMicros: Int64) throws {
        let pg = try session.live()
        if leaderGeneration != session.generation {
            guard try pg.execute("SELECT pg_try_advisory_lock(hashtext('telemetry_health'))").rows.first?[0] == "t" else { return }
            leaderGeneration = session.generation
        }
        watermarkLagMicros.store(max(0, nowMicros - watermarkMicros), ordering: .relaxed)
        if nowMicros - learntAt > 600_000_000 {
            try learnIntervals(pg)
            learntAt = nowMicros
        }
        let rows = try pg.execute("""
            SELECT d.id, d.name, l.metric_id, (extract(epoch FROM l.ts) * 1000000)::bigint, h.interval_s, h.silent_alert_id,
                   (extract(epoch FROM h.last_ts) * 1000000)::bigint, h.configured
            FROM (SELECT DISTINCT ON (device_id) device_id, metric_id, ts FROM latest_values ORDER BY device_id, ts DESC) l
            JOIN devices d ON d.id = l.device_id LEFT JOIN device_health h ON h.device_id = l.device_id
            """).rows
        var silentNow = 0
        try pg.execute("BEGIN")
        do {
            for row in rows {
                guard let device = row[0], let name = row[1], let metric = row[2], let last = row[3].flatMap({ Int64($0) }) else { continue }
                let group = settings.group(of: name)
                if let group, row[4].flatMap({ Double($0) }) != group.intervalSeconds || row[7] != "t" {
                    // The group's interval is the device's and each of its series', for the data quality too.
                    try pg.query("""
                        INSERT INTO device_health (device_id, interval_s, configured) VALUES ($1::int, $2::float8, true)
                        ON CONFLICT (device_id) DO UPDATE SET interval_s = EXCLUDED.interval_s, configured = true
                        """, [device, String(group.intervalSeconds)])
                } else if group == nil, row[7] == "t" {
                    try pg.query("UPDATE device_health SET configured = false WHERE device_id = $1::int", [device])
                }
                guard let interval = group?.intervalSeconds ?? row[4].flatMap({ Double($0) }) else { continue }
                let threshold = max(interval * (group?.factor ?? settings.factor), settings.minSilenceSeconds)
                let silentAt = last + Int64(threshold * 1_000_000)
                if let open = row[5] {
                    if let before = row[6].flatMap({ Int64($0) }), last > before {
                        try pg.query("UPDATE alerts SET resolved_at = now() WHERE id = $1::bigint AND resolved_at IS NULL", [open])
                        try pg.query("UPDATE device_health SET silent_alert_id = NULL, last_ts = (timestamptz 'epoch' + $2::bigint * interval '1 microsecond'), checked_at = now() WHERE device_id = $1::int",
                                     [device, String(last)])
                        resolved.add(1, ordering: .relaxed)
                        logger.info("device reports again: silence resolved", metadata: ["device": "\(PrintableName(name))"])
                    } else {
                        silentNow += 1
                    }
                } else if silentAt < watermarkMicros {
                    let severity = group?.severity ?? settings.severity
                    let id = try pg.query("""
                        INSERT INTO alerts (device_id, metric_id, ts, value, rule, severity)
                        VALUES ($1::int, $2::int, (timestamptz 'epoch' + $3::bigint * interval '1 microsecond'), $4::float8, 'silence', $5)
                        ON CONFLICT ON CONSTRAINT alerts_once DO UPDATE SET resolved_at = NULL RETURNING id
                        """, [device, metric, String(silentAt), String(Double(watermarkMicros - last) / 1e6), severity]).rows.first?[0]
                    try pg.query("""
                        INSERT INTO device_health (device_id, silent_alert_id, last_ts) VALUES ($1::int, $2::bigint, (timestamptz 'epoch' + $3::bigint * interval '1 microsecond'))
                        ON CONFLICT (device_id) DO UPDATE SET silent_alert_id = EXCLUDED.silent_alert_id, last_ts = EXCLUDED.last_ts, checked_at = now()
                        """, [device, id, String(last)])
                    raised.add(1, ordering: .relaxed)
                    silentNow += 1
                    logger.warning("device silent", metadata: ["device": "\(PrintableName(name))", "last_reading": "\(Timestamp.formatRFC3339(micros: last))",
                                                               "expected_interval_s": "\(interval)", "threshold_s": "\(threshold)"])
                }
            }
            try pg.execute("COMMIT")
        } catch {
            if pg.isUsable { _ = try? pg.execute("ROLLBACK") }
            throw error
        }
        silent.store(silentNow, ordering: .relaxed)
        // Data quality: the current hour every health.quality_interval_s, and the hour before
        // once more after the pipeline has passed its end.
        let hour = Timestamp.floorDivision(watermarkMicros, 3_600_000_000).quotient * 3_600_000_000
        if finalizedHour < hour - 3_600_000_000 && qualityAt > 0 {
            _ = try computeQuality(pg, hourMicros: hour - 3_600_000_000, watermarkMicros: watermarkMicros)
            finalizedHour = hour - 3_600_000_000
        }
        if nowMicros - qualityAt >= Int64(settings.qualityIntervalSeconds) * 1_000_000 {
            let snapshot = try computeQuality(pg, hourMicros: hour, watermarkMicros: watermarkMicros)
            quality.withLock { $0 = snapshot }
            qualityAt = nowMicros
            if finalizedHour == 0 { finalizedHour = hour - 3_600_000_000 }
        }
    }

    /// Each device's interval from its rollups: per metric, the time its minutes with readings
    /// span over the readings in them; the device's is its most frequent metric's.
    private func learnIntervals(_ pg: PostgresConnection) throws {
        try pg.query("""
            INSERT INTO series_health AS h (device_id, metric_id, interval_s)
            SELECT device_id, metric_id, (extract(epoch FROM max(bucket) - min(bucket)) + 60) / sum(count)
            FROM aggregates_1m WHERE bucket >= now() - $1::float8 * interval '1 second' GROUP BY 1, 2 HAVING sum(count) >= 3
            ON CONFLICT (device_id, metric_id) DO UPDATE SET interval_s = EXCLUDED.interval_s
            """, [String(settings.learnWindowSeconds)])
        try pg.execute("""
            INSERT INTO device_health AS h (device_id, interval_s)
            SELECT device_id, min(interval_s) FROM series_health GROUP BY device_id
            ON CONFLICT (device_id) DO UPDATE SET interval_s = EXCLUDED.interval_s WHERE NOT h.configured
            """)
    }

    package func close() { session.close() }

    /// `XINFO GROUPS key`; nil when the stream does not exist.
    static func groups(_ redis: RedisClient, _ key: String) async throws -> RESPValue? {
        let result: Result<RESPValue, RedisError>
        do {
            result = .success(try await redis.send(["XINFO", "GROUPS", key]))
        } catch {
            result = .failure(error)
        }
        switch result {
        case .success(let reply): return reply
        case .failure(let error) where error.description.contains("no such key"): return nil
        case .failure(let error): throw error
        }
    }

    /// The pipeline's progress: the time of the oldest entry of any shard that the consumer group
    /// has not acknowledged (pending, or not yet delivered), or `nowMillis` when there is none.
    package static func watermark(redis: RedisClient, keys: RedisKeys, shards: Int, group: String, nowMillis: Int64) async throws -> Int64 {
        var oldest = nowMillis
        for shard in 0..<shards {
            let key = keys.stream(shard)
            // A shard nobody wrote to yet holds nothing unstored.
            guard let reply = try await groups(redis, key) else { continue }
            guard let fields = RedisClient.groups(in: reply).first(where: { $0["name"]?.string == group }) else { continue }
            if (fields["pending"]?.int ?? 0) > 0,
               let summary = try await redis.send(["XPENDING", key, group]).array, summary.count > 1,
               let first = summary[1].string, let id = StreamID(first) {
                oldest = min(oldest, Int64(clamping: id.milliseconds))
            }
            if fields["lag"]?.int != 0, let delivered = fields["last-delivered-id"]?.string,
               let next = try await redis.send(["XRANGE", key, "(" + delivered, "+", "COUNT", "1"]).array?.first?.array?.first?.string,
               let id = StreamID(next) {
                oldest = min(oldest, Int64(clamping: id.milliseconds))
            }
        }
        return oldest
    }
}
