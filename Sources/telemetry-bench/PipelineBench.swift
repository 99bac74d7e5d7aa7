import Foundation
import Histogram
import Postgres
import Redis
import TelemetryCore

/// One run of the real daemons (release builds of `telemetry-hub` with simulated sensors and
/// `telemetry-processor`) against the bench's servers, measured from outside: committed rows per
/// second from `ingested_batches`, sample → commit latency from PostgreSQL's commit timestamps
/// (`track_commit_timestamp`), CPU per process from `/proc`, peak RSS (`VmHWM`) of each daemon.
struct PipelineBench {
    let servers: BenchServers
    let binDirectory: String
    let progress: Progress

    struct Run: Sendable {
        var name: String
        var shards = 8
        var processors = 1
        var workers = 8
        /// Samples per second offered by the simulated sensors (sensors × 3 × rate).
        var sensors = 1000
        var rateHz: Double = 1000
        /// Readings per sensor (0: until stopped); a fixed count makes loss checkable.
        var readings = 0
        var warmupSeconds: Double = 3
        var seconds: Double = 20
        var batchSize = 1000
        /// Settings beyond the defaults, as environment variables (`STORAGE_CONNECTIONS=2`).
        var extraHub: [String: String] = [:]
        var extraProcessor: [String: String] = [:]
        var offered: Double { Double(sensors) * 3 * rateHz }
    }

    struct Outcome: Codable, Sendable {
        var name: String
        var shards: Int
        var processors: Int
        var offeredPerSecond: Double?
        var committedPerSecond: Double
        var storedRows: Int
        var expectedRows: Int?
        var lost: Int?
        var duplicates: Int
        var backlogEntries: Int
        /// Samples per storage transaction (group commit), mean over the run.
        var meanTransactionRows: Double
        var latencyMillis: LatencySummary?
        var cpuCores: [String: Double]
        var peakRSSMiB: [String: Double]
    }

    struct LatencySummary: Codable, Sendable {
        var samples: UInt64
        var p50: Double
        var p99: Double
        var p999: Double
        var max: Double
    }

    func run(_ run: Run) async throws -> Outcome {
        let tag = run.name.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "_" }.reduce(into: "") { $0.append($1) }
        let servers = self.servers
        let database = try await blocking {
            _ = try RedisConnection(endpoint: servers.redis).send(["FLUSHALL"])
            return try servers.freshDatabase("bench_\(tag)", migrate: false)
        }
        let prefix = "bench_\(tag)"
        let workDir = "\(servers.runDirectory)/runs/\(tag)"
        try? FileManager.default.removeItem(atPath: workDir)
        try FileManager.default.createDirectory(atPath: workDir, withIntermediateDirectories: true)

        var processors: [Daemon] = []
        var hub: Daemon?
        defer {
            hub?.kill()
            for p in processors { p.kill() }
        }
        for index in 0..<run.processors {
            let config = """
                redis: { host: 127.0.0.1, port: \(servers.redisPort), key_prefix: \(prefix) }
                streams: { shards: \(run.shards) }
                consumer: { group: processors, name: p\(index) }
                num_workers: \(run.workers)
                postgres: { url: "\(servers.conninfo(database))" }
                lease: { ttl_ms: 2000, renew_ms: 200 }
                http: { port: 0 }
                log: { level: warning }
                """
            processors.append(try Daemon.start(binary: "\(binDirectory)/telemetry-processor", name: "processor-\(index)",
                                               config: config, directory: workDir, environment: run.extraProcessor))
        }
        try await waitForLeases(prefix: prefix, shards: run.shards, processors: run.processors, daemons: processors)

        let hubConfig = """
            redis: { host: 127.0.0.1, port: \(servers.redisPort), key_prefix: \(prefix) }
            streams: { shards: \(run.shards) }
            ingest: { batch_size: \(run.batchSize) }
            spool: { dir: \(workDir)/spool }
            simulated: { enabled: true, sensors: \(run.sensors), rate_hz: \(run.rateHz), readings: \(run.readings), spike_probability: 0, device_prefix: bench }
            hub: { id: \(prefix) }
            http: { port: 0 }
            log: { level: warning }
            """
        let startMicros = wallClockMicros()
        hub = try Daemon.start(binary: "\(binDirectory)/telemetry-hub", name: "hub", config: hubConfig, directory: workDir, environment: run.extraHub)
        try await progress.sleep(run.warmupSeconds, label: "\(run.name): warming up")
        let windowStart = wallClockMicros()
        let cpuBefore = cpuSeconds(hub: hub!, processors: processors)
        try await progress.sleep(run.seconds, label: "\(run.name): measuring")
        let windowEnd = wallClockMicros()
        let cpuAfter = cpuSeconds(hub: hub!, processors: processors)
        var peak: [String: Double] = ["hub": hub!.peakRSSMiB]
        peak["processor"] = processors.map(\.peakRSSMiB).max() ?? 0

        // A fixed-count run: wait until every reading is stored before stopping the hub, which
        // would otherwise stop its sensors before they took their last readings (the window ends
        // when the last one is due) and count samples never taken as lost. Then stop the hub (it
        // drains and publishes what it holds) and the processors (they commit and acknowledge
        // what they read).
        let expected = run.readings > 0 ? run.sensors * 3 * run.readings : nil
        if let expected {
            let deadline = ContinuousClock.now + .seconds(120)
            while ContinuousClock.now < deadline {
                let batched = try await blocking {
                    try scalar(PostgresConnection(conninfo: servers.conninfo(database)), "SELECT coalesce(sum(samples), 0) FROM ingested_batches")
                }
                if batched >= expected { break }
                try await progress.sleep(0.5, label: "\(run.name): draining")
            }
        }
        try await hub!.stop(timeout: 60)
        peak["hub"] = max(peak["hub"] ?? 0, hub!.lastPeakRSSMiB)
        let backlog = try await blocking { try lag(prefix: prefix, shards: run.shards) }
        for p in processors {
            try await p.stop(timeout: 60)
            peak["processor"] = max(peak["processor"] ?? 0, p.lastPeakRSSMiB)
        }

        let measureLatency = run.readings > 0
        let (committed, stored, batchSamples, transactions, latency) = try await blocking {
            let pg = try PostgresConnection(conninfo: servers.conninfo(database))
            return (try scalar(pg, """
                        SELECT coalesce(sum(samples), 0) FROM ingested_batches
                        WHERE committed_at >= timestamptz 'epoch' + \(windowStart) * interval '1 microsecond'
                          AND committed_at < timestamptz 'epoch' + \(windowEnd) * interval '1 microsecond'
                        """),
                    try scalar(pg, "SELECT count(*) FROM samples"),
                    try scalar(pg, "SELECT coalesce(sum(samples), 0) FROM ingested_batches"),
                    // Batches of one transaction share its start time (now()): one group per committed_at.
                    try scalar(pg, "SELECT count(DISTINCT committed_at) FROM ingested_batches"),
                    measureLatency ? try latencies(pg, from: startMicros + Int64(run.warmupSeconds * 1e6)) : nil)
        }
        let window = Double(windowEnd - windowStart) / 1e6
        var cpu: [String: Double] = [:]
        for (name, seconds) in cpuAfter { cpu[name] = (seconds - (cpuBefore[name] ?? 0)) / window }
        return Outcome(name: run.name, shards: run.shards, processors: run.processors,
                       offeredPerSecond: run.offered, committedPerSecond: Double(committed) / window,
                       storedRows: stored, expectedRows: expected, lost: expected.map { $0 - stored },
                       duplicates: batchSamples - stored, backlogEntries: backlog,
                       meanTransactionRows: Double(batchSamples) / Double(max(1, transactions)), latencyMillis: latency,
                       cpuCores: cpu, peakRSSMiB: peak)
    }

    /// Sample time → commit time of every row stored after the warm-up, into an HDR histogram
    /// (microsecond resolution, 3 significant digits).
    private func latencies(_ pg: PostgresConnection, from: Int64) throws -> LatencySummary? {
        let rows = try pg.execute("""
            SELECT (extract(epoch FROM pg_xact_commit_timestamp(xmin) - ts) * 1000000)::bigint AS us, count(*)
            FROM samples WHERE ts >= timestamptz 'epoch' + \(from) * interval '1 microsecond'
            GROUP BY 1
            """).rows
        var histogram = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
        for row in rows {
            guard let us = row[0].flatMap({ Int64($0) }), let count = row[1].flatMap({ UInt64($0) }) else { continue }
            _ = histogram.record(UInt64(max(0, us)), count: count)
        }
        guard histogram.totalCount > 0 else { return nil }
        return LatencySummary(samples: histogram.totalCount,
                              p50: Double(histogram.valueAtPercentile(50)) / 1000,
                              p99: Double(histogram.valueAtPercentile(99)) / 1000,
                              p999: Double(histogram.valueAtPercentile(99.9)) / 1000,
                              max: Double(histogram.max) / 1000)
    }

    /// Waits until every shard has a lease holder and the shards are spread over the processors.
    private func waitForLeases(prefix: String, shards: Int, processors: Int, daemons: [Daemon]) async throws {
        let keys = RedisKeys(prefix: prefix)
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            for daemon in daemons where !daemon.isRunning {
                throw BenchError("\(daemon.name) exited during start-up; see \(daemon.logPath)")
            }
            let endpoint = servers.redis
            let owners = try await blocking {
                try RedisConnection(endpoint: endpoint).send(RedisCommand(["MGET"] + (0..<shards).map(keys.lease))).array?.compactMap(\.string) ?? []
            }
            if owners.count == shards && Set(owners).count == min(processors, shards) { return }
            try await progress.sleep(0.2, label: "waiting for \(processors) processor(s) to lease \(shards) shards")
        }
        throw BenchError("processors did not lease all \(shards) shards within 60 s; see \(servers.runDirectory)/runs")
    }

    /// Entries not yet acknowledged over all shards (consumer-group lag + pending).
    private func lag(prefix: String, shards: Int) throws -> Int {
        let redis = try RedisConnection(endpoint: servers.redis)
        let keys = RedisKeys(prefix: prefix)
        var total = 0
        for shard in 0..<shards {
            guard let groups = try redis.send(["XINFO", "GROUPS", keys.stream(shard)]).array else { continue }
            for group in groups {
                guard let fields = group.array else { continue }
                var index = 0
                while index + 1 < fields.count {
                    if let name = fields[index].string, name == "lag" || name == "pending" { total += fields[index + 1].int ?? 0 }
                    index += 2
                }
            }
        }
        return total
    }

    private func scalar(_ pg: PostgresConnection, _ sql: String) throws -> Int {
        Int(try pg.execute(sql).rows.first?[0] ?? "0") ?? 0
    }

    /// CPU seconds so far of the hub, the processors (summed), Redis and PostgreSQL (postmaster
    /// and its backends).
    private func cpuSeconds(hub: Daemon, processors: [Daemon]) -> [String: Double] {
        var out: [String: Double] = [:]
        out["hub"] = ProcStat.cpuSeconds(pid: hub.pid)
        out["processor"] = processors.reduce(0) { $0 + ProcStat.cpuSeconds(pid: $1.pid) }
        if let text = try? String(contentsOfFile: "\(servers.runDirectory)/redis/redis.pid", encoding: .utf8),
           let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            out["redis"] = ProcStat.cpuSeconds(pid: pid)
        }
        if let text = try? String(contentsOfFile: "\(servers.runDirectory)/pg/data/postmaster.pid", encoding: .utf8),
           let pid = text.split(separator: "\n").first.flatMap({ Int32($0) }) {
            out["postgres"] = ProcStat.cpuSeconds(pid: pid) + ProcStat.children(of: pid).reduce(0) { $0 + ProcStat.cpuSeconds(pid: $1) }
        }
        return out
    }
}

/// Runs the bench's blocking calls (libpq, hiredis, thread joins) on a thread of its own, so they
/// never hold one of the cooperative pool's threads.
actor BlockingIO {
    static let shared = BlockingIO()
    private nonisolated let executor = ThreadExecutor(name: "bench-io")
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    func run<T: Sendable>(_ body: @Sendable () throws -> T) throws -> T { try body() }
}

func blocking<T: Sendable>(_ body: @Sendable () throws -> T) async throws -> T {
    try await BlockingIO.shared.run(body)
}

/// A daemon started by the bench, its output in a log file of the run's directory.
final class Daemon: @unchecked Sendable {
    // @unchecked: used from the bench's one task at a time.
    let name: String
    let process: Process
    let logPath: String
    private(set) var lastPeakRSSMiB: Double = 0

    private init(name: String, process: Process, logPath: String) {
        self.name = name
        self.process = process
        self.logPath = logPath
    }

    static func start(binary: String, name: String, config: String, directory: String, environment extra: [String: String]) throws -> Daemon {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw BenchError("\(binary) is missing; build it with `swift build -c release` (make bench does)")
        }
        let configPath = "\(directory)/\(name).yaml"
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        let logPath = "\(directory)/\(name).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let runtime = "\(directory)/\(name).rt"
        try FileManager.default.createDirectory(atPath: runtime, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["--config", configPath]
        // Only what a daemon needs: variables such as REDIS_PORT would override its file.
        var environment = ProcessInfo.processInfo.environment.filter { ["PATH", "HOME", "LANG", "TZ"].contains($0.key) }
        environment["RUNTIME_DIRECTORY"] = runtime
        environment.merge(extra) { $1 }
        process.environment = environment
        process.standardOutput = FileHandle(forWritingAtPath: logPath)
        process.standardError = FileHandle(forWritingAtPath: logPath)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return Daemon(name: name, process: process, logPath: logPath)
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    /// Peak resident set size so far (`VmHWM`).
    var peakRSSMiB: Double {
        let value = ProcStat.statusKiB(pid: pid, field: "VmHWM") / 1024
        lastPeakRSSMiB = max(lastPeakRSSMiB, value)
        return lastPeakRSSMiB
    }

    /// SIGTERM and wait for a graceful exit; SIGKILL after `timeout` seconds.
    func stop(timeout: Double) async throws {
        _ = peakRSSMiB
        guard process.isRunning else { return }
        process.terminate()
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        while process.isRunning && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        if process.isRunning {
            Foundation.kill(pid, SIGKILL)
            throw BenchError("\(name) did not stop within \(Int(timeout)) s of SIGTERM; see \(logPath)")
        }
    }

    func kill() {
        if process.isRunning { Foundation.kill(pid, SIGKILL) }
    }
}

/// Readings from `/proc`.
enum ProcStat {
    static let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))

    /// utime + stime of `pid`, in seconds.
    static func cpuSeconds(pid: Int32) -> Double {
        guard let fields = statFields(pid), fields.count > 13 else { return 0 }
        return ((Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)) / ticks
    }

    /// Processes whose parent is `pid`.
    static func children(of pid: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { child in
            guard let fields = statFields(child), fields.count > 1 else { return false }
            return Int32(fields[1]) == pid
        }
    }

    /// The fields after the command name of `/proc/<pid>/stat` (state is field 0).
    private static func statFields(_ pid: Int32) -> [Substring]? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        return text[text.index(after: close)...].split(separator: " ")
    }

    /// A `kB` field of `/proc/<pid>/status`.
    static func statusKiB(pid: Int32, field: String) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            return Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        }
        return 0
    }
}
