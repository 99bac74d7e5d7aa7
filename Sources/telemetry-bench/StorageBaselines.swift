import Foundation
import Histogram
import Postgres
import Processor
import Redis
import Synchronization
import TelemetryCore

/// The two storage baselines the pipeline is compared with, on the bench's own servers:
/// the raw libpq binary `COPY` ceiling into the pipeline's schema, and the seed's per-sample path.
struct StorageBaselines {
    let servers: BenchServers

    struct Throughput {
        var rows: Int
        var seconds: Double
        /// BEGIN → COMMIT of one batch (the COPY baseline only).
        var transactionMillis: PipelineBench.LatencySummary?
        var perSecond: Double { Double(rows) / seconds }
    }

    /// Binary `COPY` of `batchRows` rows per transaction (BEGIN, COPY, COMMIT) into a fresh
    /// database with the processor's schema (day partitions, BRIN on ts, the unique natural key),
    /// from `connections` threads for `seconds`. Rows are laid out as the simulated bus reads them:
    /// every device's three metrics at one timestamp, then the next reading.
    func copyCeiling(batchRows: Int, connections: Int, seconds: Double, devices: Int) throws -> Throughput {
        let database = try servers.freshDatabase("bench_copy")
        let rows = Shared(0)
        let errors = Shared<[String]>([])
        let transactions = Shared(Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three))
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        let started = ContinuousClock.now
        let base = wallClockMicros()
        runThreads(connections) { index in
            do {
                let pg = try PostgresConnection(conninfo: servers.conninfo(database))
                var reading: Int64 = 0
                var device = 0, metric = 0
                let firstDevice = Int32(index * devices + 1)
                var local = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
                defer { transactions.withLock { $0.add(local) } }
                while ContinuousClock.now < deadline {
                    var copy = BinaryCopyWriter(reservingRows: batchRows, bytesPerRow: 40)
                    for _ in 0..<batchRows {
                        copy.beginRow(fields: 4)
                        copy.int32(firstDevice + Int32(device))
                        copy.int32(Int32(metric + 1))
                        copy.timestamptz(unixMicros: base + reading * 1000)
                        copy.float8(20 + Double(device % 7))
                        metric += 1
                        if metric == 3 { metric = 0; device += 1 }
                        if device == devices { device = 0; reading += 1 }
                    }
                    let began = ContinuousClock.now
                    try pg.execute("BEGIN")
                    try pg.copyIn("COPY samples (device_id, metric_id, ts, value) FROM STDIN (FORMAT binary)", data: copy.finish())
                    try pg.execute("COMMIT")
                    _ = local.record(UInt64((ContinuousClock.now - began).totalSeconds * 1e6))
                    rows.withLock { $0 += batchRows }
                }
            } catch {
                errors.withLock { $0.append("\(error)") }
            }
        }
        let elapsed = (ContinuousClock.now - started).totalSeconds
        if let first = errors.value.first { throw BenchError("COPY baseline failed: \(first)") }
        let h = transactions.value
        let summary = PipelineBench.LatencySummary(samples: h.totalCount, p50: Double(h.valueAtPercentile(50)) / 1000,
                                                   p99: Double(h.valueAtPercentile(99)) / 1000,
                                                   p999: Double(h.valueAtPercentile(99.9)) / 1000, max: Double(h.max) / 1000)
        return Throughput(rows: rows.value, seconds: elapsed, transactionMillis: summary)
    }

    /// The seed's path, one sample at a time: a JSON task per sample `RPUSH`ed by one thread, and
    /// a consumer that `BLPOP`s it, decodes it, and stores it with a one-row autocommit `INSERT`.
    func seedPerSample(seconds: Double, devices: Int) throws -> Throughput {
        let database = try servers.freshDatabase("bench_seed")
        let key = "bench:seed:tasks"
        let setup = try RedisConnection(endpoint: servers.redis)
        _ = try setup.send(["DEL", key])
        let stop = Shared(false)
        let stored = Shared(0)
        let errors = Shared<[String]>([])
        let started = ContinuousClock.now
        let deadline = started + .milliseconds(Int(seconds * 1000))
        runThreads(2) { role in
            do {
                let redis = try RedisConnection(endpoint: servers.redis)
                if role == 0 {
                    var i = 0
                    let base = wallClockMicros()
                    while !stop.value && ContinuousClock.now < deadline {
                        let device = "seed_\(i % devices)"
                        let ts = Timestamp.formatRFC3339(micros: base + Int64(i / devices) * 1000)
                        let json = #"{"id":"seed-\#(i)","type":"telemetry.store","payload":{"device_id":"\#(device)","timestamp":"\#(ts)","temperature":\#(20 + Double(i % 7))}}"#
                        var command: RedisCommand = ["RPUSH", key]
                        command.append(bytes: Array(json.utf8))
                        _ = try redis.send(command)
                        i += 1
                    }
                    return
                }
                let pg = try PostgresConnection(conninfo: servers.conninfo(database))
                var deviceIDs: [String: String] = [:]
                let metricID = try pg.query("SELECT id FROM metrics WHERE name = 'temperature'").rows.first?[0] ?? "1"
                while ContinuousClock.now < deadline {
                    guard let pair = try redis.send(["BLPOP", key, "1"]).array, pair.count == 2, let raw = pair[1].bytes else { continue }
                    let task = try TelemetryTaskCodec.decode(raw)
                    let device: String
                    if let known = deviceIDs[task.deviceID] {
                        device = known
                    } else {
                        try pg.query("INSERT INTO devices (name) VALUES ($1) ON CONFLICT (tenant_id, name) DO NOTHING", [task.deviceID])
                        device = try pg.query("SELECT id FROM devices WHERE name = $1", [task.deviceID]).rows.first?[0] ?? "0"
                        deviceIDs[task.deviceID] = device
                    }
                    for metric in task.metrics {
                        try pg.query("INSERT INTO samples (device_id, metric_id, ts, value) VALUES ($1, $2, timestamptz 'epoch' + $3::bigint * interval '1 microsecond', $4)",
                                     [device, metricID, String(task.timestampMicros), "\(metric.value)"])
                        stored.withLock { $0 += 1 }
                    }
                }
                stop.withLock { $0 = true }
            } catch {
                errors.withLock { $0.append("\(error)") }
                stop.withLock { $0 = true }
            }
        }
        let elapsed = (ContinuousClock.now - started).totalSeconds
        _ = try? setup.send(["DEL", key])
        if let first = errors.value.first { throw BenchError("seed path failed: \(first)") }
        return Throughput(rows: stored.value, seconds: elapsed)
    }
}

/// Runs `body(index)` on `count` threads and waits for all of them.
func runThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let done = DispatchSemaphore(value: 0)
    for index in 0..<count {
        let thread = Thread {
            body(index)
            done.signal()
        }
        thread.start()
    }
    for _ in 0..<count { done.wait() }
}

/// A value shared by the bench's threads behind a lock (a class: closures cannot capture a
/// `Mutex` itself).
final class Shared<Value: Sendable>: Sendable {
    private let lock: Mutex<Value>
    init(_ value: Value) { lock = Mutex(value) }
    var value: Value { lock.withLock { $0 } }
    func withLock<R>(_ body: (inout Value) -> R) -> R { lock.withLock { body(&$0) } }
}
