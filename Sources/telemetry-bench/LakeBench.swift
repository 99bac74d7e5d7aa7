import Foundation
import Logging
import Postgres
import Processor
import TelemetryCore

/// The lake (Docs/lake.md): one UTC day of samples exported to Parquet, against the same run's
/// raw `COPY … TO STDOUT (FORMAT binary)` of the same query drained without decoding (the rate
/// PostgreSQL can hand the rows out at), and the file's bytes per sample against PostgreSQL's own
/// (`pg_total_relation_size` of the day's partition, indexes included).
struct LakeBench {
    let servers: BenchServers

    struct Outcome: Sendable {
        var rows: Int
        var copyRowsPerSecond: Double
        var exportRowsPerSecond: [String: Double]
        var parquetBytesPerSample: [String: Double]
        var postgresBytesPerSample: Double
    }

    /// Seeds a day like a plant's: `devices` devices × temperature, humidity and pressure every
    /// `interval` seconds, values at the sensors' resolution (0.01) around a daily curve with
    /// noise, stored 0.1–2 s after their time.
    static func seed(_ pg: PostgresConnection, day: Int, devices: Int, interval: Int) throws {
        let start = LakeLayout.dayText(day)
        try pg.execute("""
            SELECT telemetry_ensure_partition('\(start)');
            INSERT INTO devices (name) SELECT 'plant_' || lpad(n::text, 4, '0') FROM generate_series(1, \(devices)) AS n;
            INSERT INTO samples (device_id, metric_id, ts, value, ingested_at)
                SELECT d.id, m.id, t, v, t + (0.1 + random() * 1.9) * interval '1 second'
                FROM devices d, metrics m,
                     generate_series('\(start) 00:00:00+00'::timestamptz, '\(start) 23:59:59+00'::timestamptz, interval '\(interval) seconds') AS t,
                     LATERAL (SELECT round((CASE m.name WHEN 'temperature' THEN 21 + 4 * sin(extract(epoch FROM t) / 13751.0 + d.id)
                                                        WHEN 'humidity' THEN 45 + 10 * sin(extract(epoch FROM t) / 20000.0 + d.id)
                                                        ELSE 1013 + 5 * sin(extract(epoch FROM t) / 40000.0 + d.id) END
                                           + (random() - 0.5) * 0.2)::numeric, 2)::float8 AS v) AS r
                WHERE m.name IN ('temperature', 'humidity', 'pressure');
            """)
        try pg.execute("VACUUM ANALYZE samples")
    }

    func run(devices: Int = 400, interval: Int = 60) async throws -> Outcome {
        let servers = self.servers
        let database = try await blocking { try servers.freshDatabase("bench_lake") }
        let day = Timestamp.dayNumber(micros: wallClockMicros()) - 2
        let conninfo = servers.conninfo(database)
        let rows = try await blocking {
            let pg = try PostgresConnection(conninfo: conninfo)
            try Self.seed(pg, day: day, devices: devices, interval: interval)
            return Int(try pg.execute("SELECT count(*) FROM samples").rows.first?[0] ?? "") ?? 0
        }
        let postgresBytes = try await blocking {
            let pg = try PostgresConnection(conninfo: conninfo)
            return Double(try pg.execute("SELECT pg_total_relation_size('samples_p\(LakeLayout.dayText(day).replacingOccurrences(of: "-", with: ""))')").rows.first?[0] ?? "") ?? 0
        }
        // The baseline, twice (the first run warms the cache the exports then also find warm).
        var copyBest = 0.0
        for _ in 0..<2 {
            copyBest = max(copyBest, try await blocking {
                let pg = try PostgresConnection(conninfo: conninfo)
                _ = try pg.execute("SET work_mem = '64MB'")
                let started = ContinuousClock.now
                var bytes = 0
                let copied = try pg.copyOut(LakeSchema.copy(day: day)) { bytes += $0.count }
                let seconds = (ContinuousClock.now - started) / .milliseconds(1) / 1000
                return bytes > 0 ? Double(copied) / seconds : 0
            })
        }
        var rates: [String: Double] = [:]
        var sizes: [String: Double] = [:]
        for compression in ["zstd", "snappy"] {
            let folder = "\(servers.runDirectory)/runs/lake-\(compression)"
            try? FileManager.default.removeItem(atPath: folder)
            var logger = Logger(label: "bench-lake")
            logger.logLevel = .warning
            let exporter = LakeExporter(conninfo: conninfo, settings: LakeConfiguration(path: folder, compression: compression == "zstd" ? .zstd : .snappy),
                                        logger: logger)
            let started = ContinuousClock.now
            guard let result = try await exporter.export(day: day) else { throw BenchError("the lake export was skipped") }
            let seconds = (ContinuousClock.now - started) / .milliseconds(1) / 1000
            await exporter.close()
            rates[compression] = Double(result.rows) / seconds
            sizes[compression] = Double(result.bytes) / Double(max(result.rows, 1))
        }
        return Outcome(rows: rows, copyRowsPerSecond: copyBest, exportRowsPerSecond: rates, parquetBytesPerSample: sizes,
                       postgresBytesPerSample: postgresBytes / Double(max(rows, 1)))
    }
}
