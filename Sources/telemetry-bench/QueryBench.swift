import Foundation
import Postgres
import Redis
import SystemSupport
import TelemetryCore

/// The read side: a release `telemetry-query` under `wrk` (64 connections): latest values from
/// the Redis cache and from the primary, series over 24 h of 1 Hz data through `aggregates_1m`
/// and over 30 days through `aggregates_1h`, each beside the same daemon's `GET /health` in the
/// same run (the HTTP ceiling: no database, no cache).
struct QueryBench {
    let servers: BenchServers
    let binDirectory: String

    /// One wrk run: requests per second and latency percentiles (ms).
    struct Load: Codable, Sendable {
        var requestsPerSecond: Double
        var p50Millis: Double
        var p99Millis: Double
        var non2xx: Int
    }

    struct Outcome: Sendable {
        /// Share of the cache run's lookups that were hits.
        var cacheHitShare: Double
        var health: Load
        var cache: Load
        var primary: Load
        var series24h: Load
        var series30d: Load
    }

    static let device = "bench_q_000"

    func run(seconds: Int, connections: Int = 64) async throws -> Outcome {
        let servers = self.servers
        let database = try await blocking { try servers.freshDatabase("bench_query") }
        try await blocking { try Self.seed(PostgresConnection(conninfo: servers.conninfo(database))) }
        try await blocking {
            let redis = try RedisConnection(endpoint: servers.redis)
            _ = try redis.send(["DEL", "bench_query:latest:\(Self.device)"])
        }
        let workDir = "\(servers.runDirectory)/runs/query"
        try? FileManager.default.removeItem(atPath: workDir)
        try FileManager.default.createDirectory(atPath: workDir, withIntermediateDirectories: true)
        let port: Int
        do { port = try LoopbackPort.free() } catch { throw BenchError("cannot find a free port: \(error)") }
        let query = try Daemon.start(binary: "\(binDirectory)/telemetry-query", name: "query", config: """
            postgres: { url: "\(servers.conninfo(database))" }
            redis: { host: 127.0.0.1, port: \(servers.redisPort), key_prefix: bench_query }
            cache: { ttl_s: 3600 }
            read: { connections: 4 }
            http: { port: \(port) }
            log: { level: warning }
            """, directory: workDir, environment: [:])
        defer { query.kill() }
        let base = "http://127.0.0.1:\(port)"
        let deadline = ContinuousClock.now + .seconds(30)
        while try await blocking({ try Self.status("\(base)/ready") }) != 200 {
            guard ContinuousClock.now < deadline, query.isRunning else { throw BenchError("the query daemon did not become ready; see \(query.logPath)") }
            try await Task.sleep(for: .milliseconds(100))
        }
        let now = Int64(Date().timeIntervalSince1970)
        let dayFrom = Self.rfc3339(now - 86_400), to = Self.rfc3339(now)
        let monthFrom = Self.rfc3339(now - 30 * 86_400)
        let urls = [
            "\(base)/health",
            "\(base)/v1/devices/\(Self.device)/latest",
            "\(base)/v1/devices/\(Self.device)/latest?consistency=strong",
            "\(base)/v1/series?device=\(Self.device)&metric=temperature&from=\(dayFrom)&to=\(to)&step=1m",
            "\(base)/v1/series?device=\(Self.device)&metric=temperature&from=\(monthFrom)&to=\(to)&step=1h",
        ]
        // Every URL answers 200 before it is measured (and the cache holds the device).
        for url in urls {
            let status = try await blocking { try Self.status(url) }
            guard status == 200 else { throw BenchError("\(url) answered \(status); see \(query.logPath)") }
        }
        var loads: [Load] = []
        var hitShare = 0.0
        for (index, url) in urls.enumerated() {
            let before = index == 1 ? try await blocking { try Self.lookups("\(base)/metrics") } : [:]
            loads.append(try await blocking { try Self.wrk(url, connections: connections, seconds: seconds) })
            if index == 1 {
                let after = try await blocking { try Self.lookups("\(base)/metrics") }
                let hits = (after["HIT"] ?? 0) - (before["HIT"] ?? 0)
                let all = after.reduce(0) { $0 + $1.value } - before.reduce(0) { $0 + $1.value }
                hitShare = all > 0 ? hits / all : 0
            }
        }
        try await query.stop(timeout: 20)
        return Outcome(cacheHitShare: hitShare, health: loads[0], cache: loads[1], primary: loads[2], series24h: loads[3], series30d: loads[4])
    }

    /// One device with 24 h of 1 Hz temperature samples (rolled up into the three tables by SQL,
    /// as the processor would), 30 days of hourly rollups of 1 Hz data before that, and 99 more
    /// devices with latest values.
    static func seed(_ pg: PostgresConnection) throws {
        try pg.execute("""
            INSERT INTO devices (name) SELECT 'bench_q_' || lpad(n::text, 3, '0') FROM generate_series(0, 99) AS n;
            SELECT telemetry_ensure_partition(d::date) FROM generate_series(now() - interval '2 days', now(), interval '1 day') AS d;
            INSERT INTO samples (device_id, metric_id, ts, value)
                SELECT d.id, m.id, date_trunc('second', now()) - s * interval '1 second', 20 + 5 * sin(s / 600.0)
                FROM generate_series(1, 86400) AS s, devices d, metrics m WHERE d.name = 'bench_q_000' AND m.name = 'temperature';
            INSERT INTO aggregates_1m SELECT device_id, metric_id, date_bin('1 minute', ts, timestamptz 'epoch'), count(*), sum(value), min(value), max(value)
                FROM samples GROUP BY 1, 2, 3;
            INSERT INTO aggregates_1h SELECT device_id, metric_id, date_bin('1 hour', ts, timestamptz 'epoch'), count(*), sum(value), min(value), max(value)
                FROM samples GROUP BY 1, 2, 3;
            INSERT INTO aggregates_1h
                SELECT d.id, m.id, date_bin('1 hour', now() - interval '1 day', timestamptz 'epoch') - h * interval '1 hour', 3600, 3600 * 20, 15, 25
                FROM generate_series(1, 30 * 24) AS h, devices d, metrics m WHERE d.name = 'bench_q_000' AND m.name = 'temperature'
                ON CONFLICT DO NOTHING;
            INSERT INTO latest_values (device_id, metric_id, ts, value)
                SELECT d.id, m.id, now(), 21.5 FROM devices d, metrics m WHERE m.name IN ('temperature', 'humidity', 'pressure')
                ON CONFLICT (device_id, metric_id) DO UPDATE SET ts = excluded.ts, value = excluded.value;
            ANALYZE;
            """)
        pg.close()
    }

    /// `telemetry_query_cache_lookups_total` by status, from the daemon's /metrics.
    static func lookups(_ url: String) throws -> [String: Double] {
        let (_, text) = try tool("/usr/bin/curl", ["-s", "-m", "10", url])
        var out: [String: Double] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("telemetry_query_cache_lookups_total{") {
            guard let open = line.firstIndex(of: "\""), let close = line[line.index(after: open)...].firstIndex(of: "\""),
                  let value = line.split(separator: " ").last.flatMap({ Double($0) }) else { continue }
            out[String(line[line.index(after: open)..<close])] = value
        }
        return out
    }

    static func rfc3339(_ seconds: Int64) -> String { Timestamp.formatRFC3339(micros: seconds * 1_000_000) }

    static func status(_ url: String) throws -> Int {
        let (_, output) = try tool("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "10", url])
        return Int(output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    /// `wrk --latency` for `seconds` at `connections`, two threads (the machine's cores).
    static func wrk(_ url: String, connections: Int, seconds: Int) throws -> Load {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/wrk") else {
            throw BenchError("/usr/bin/wrk is missing: `make bench` installs it (apt-get install wrk)")
        }
        let (status, output) = try tool("/usr/bin/wrk", ["-t2", "-c\(connections)", "-d\(seconds)s", "--latency", url])
        guard status == 0 else { throw BenchError("wrk \(url) failed: \(output)") }
        return try parse(output, url: url)
    }

    /// Requests/sec and the 50 % and 99 % lines of wrk's latency distribution.
    static func parse(_ output: String, url: String) throws -> Load {
        func millis(_ text: Substring) -> Double? {
            for (suffix, scale) in [("us", 0.001), ("ms", 1.0), ("s", 1000.0)] where text.hasSuffix(suffix) {
                return Double(text.dropLast(suffix.count)).map { $0 * scale }
            }
            return nil
        }
        var load = Load(requestsPerSecond: 0, p50Millis: 0, p99Millis: 0, non2xx: 0)
        for line in output.split(separator: "\n") {
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            if words.first == "Requests/sec:", let value = words.last.flatMap({ Double($0) }) { load.requestsPerSecond = value }
            if words.count == 2, words[0] == "50%", let value = millis(words[1]) { load.p50Millis = value }
            if words.count == 2, words[0] == "99%", let value = millis(words[1]) { load.p99Millis = value }
            if line.contains("Non-2xx or 3xx responses:"), let value = words.last.flatMap({ Int($0) }) { load.non2xx = value }
        }
        guard load.requestsPerSecond > 0, load.p99Millis > 0 else { throw BenchError("cannot read wrk's figures for \(url):\n\(output)") }
        guard load.non2xx == 0 else { throw BenchError("\(url): \(load.non2xx) answers were not 2xx under load") }
        return load
    }

    private static func tool(_ path: String, _ arguments: [String]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
