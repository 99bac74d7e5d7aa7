import Configuration
import TelemetryCore
import Redis
import TelemetryConfiguration
import Supervision
import Foundation

/// Everything the hub reads from configuration.
///
/// Keys (environment name in brackets), defaults:
/// - `redis.host` (`REDIS_HOST`) 127.0.0.1, `redis.port` (`REDIS_PORT`) 6379,
///   `redis.key_prefix` (`REDIS_KEY_PREFIX`) telemetry
/// - `streams.shards` (`STREAMS_SHARDS`) 8, `streams.retention_days` (`STREAMS_RETENTION_DAYS`) 7,
///   `streams.trim_interval_s` 60 (the retention trim runs on this timer, on Redis's clock)
/// - `ingest.batch_size` 1000 samples (at most 65 535), `ingest.flush_interval_ms` 5, `ingest.flush_when_idle` true,
///   `ingest.buffer_batches` 256,
///   `ingest.full_policy` `block` | `drop_oldest`, `ingest.ring_capacity` 65536 per device
/// - `publisher.pipeline` 64 batches per round trip
/// - `spool.dir` (`SPOOL_DIR`) `$STATE_DIRECTORY/spool` or /var/lib/telemetry-hub/spool,
///   `spool.segment_bytes` 64 MiB, `spool.max_bytes` 1 GiB, `spool.fsync` true,
///   `spool.full_policy` `block` | `drop_oldest`
/// - `breaker.probe_ms` 500, `breaker.max_probe_ms` 5000 (Redis probe interval while open)
/// - `simulated.enabled` true, `simulated.sensors` 24, `simulated.rate_hz` 1 (readings per sensor
///   per second), `simulated.readings` 0 (per sensor; 0 = unlimited), `simulated.spike_probability` 0,
///   `simulated.device_prefix` sim, `simulated.seed` 1
/// - `buses.names` [] and `buses.<name>.*`: UART line protocol, Modbus RTU and BME280 buses
///   (``BusConfiguration``; Docs/buses.md)
/// - `dead_letters.buffer` 10000: unreadable device input waiting for Redis (oldest dropped, counted)
/// - `validation.max_fields` (`VALIDATION_MAX_FIELDS`) 1024: most numeric fields of one HTTP sample,
///   task or device line; more is refused whole as `too_large`
/// - `validation.max_metric_names` (`VALIDATION_MAX_METRIC_NAMES`) 10000: distinct metric names in the
///   deployment; an HTTP sample with a new name past it is refused (400 `cardinality_limit`)
/// - `hub.id` a random id per start (prefix of every batch id; each start adds an epoch)
/// - `shutdown.timeout_s` 30: graceful drain budget after SIGTERM, then the process is cancelled
/// - `supervisor.max_restarts` 5 within `supervisor.period_s` 60 (then the process exits 1),
///   `supervisor.backoff_initial_ms` 100, `supervisor.backoff_max_ms` 10000
package struct HubConfiguration: Sendable {
    package var redis: RedisEndpoint
    package var keys: RedisKeys
    /// `streams.shards` (`STREAMS_SHARDS`), default `8`.
    package var shards: Int
    /// `streams.retention_days` (`STREAMS_RETENTION_DAYS`), default `7`.
    package var streamRetentionDays: Int
    /// Seconds between retention trims (`streams.trim_interval_s`).
    package var trimIntervalSeconds: Int
    /// `ingest.batch_size` (`INGEST_BATCH_SIZE`), default `1000`.
    package var batchSize: Int
    /// `ingest.flush_interval_ms` (`INGEST_FLUSH_INTERVAL_MS`), default `5`.
    package var flushIntervalMillis: Int
    /// Close open batches once the rings stay empty over a drain pause (the burst is over).
    package var flushWhenIdle: Bool
    /// `ingest.buffer_batches` (`INGEST_BUFFER_BATCHES`), default `256`.
    package var bufferBatches: Int
    package var fullPolicy: BufferFullPolicy
    /// `ingest.ring_capacity` (`INGEST_RING_CAPACITY`), default `65_536`.
    package var ringCapacity: Int
    /// `publisher.pipeline` (`PUBLISHER_PIPELINE`), default `64`.
    package var publisherPipeline: Int
    /// `spool.dir` (`SPOOL_DIR`), default `$STATE_DIRECTORY/spool`, else /var/lib/telemetry-hub/spool.
    package var spoolDirectory: String
    /// `spool.segment_bytes` (`SPOOL_SEGMENT_BYTES`), default `64 << 20`.
    package var spoolSegmentBytes: Int
    /// `spool.max_bytes` (`SPOOL_MAX_BYTES`), default `1 << 30`.
    package var spoolMaxBytes: Int
    /// `spool.fsync` (`SPOOL_FSYNC`), default `true`.
    package var spoolFsync: Bool
    package var spoolFullPolicy: BufferFullPolicy
    /// `breaker.probe_ms` (`BREAKER_PROBE_MS`), default `500`.
    package var breakerProbeMillis: Int
    /// `breaker.max_probe_ms` (`BREAKER_MAX_PROBE_MS`), default `5000`.
    package var breakerMaxProbeMillis: Int
    package var simulated: SimulatedBusConfiguration?
    /// The device buses (`buses.names`, then `buses.<name>.*`).
    package var buses: [BusConfiguration]
    /// Dead letters waiting for Redis (`dead_letters.buffer`).
    package var deadLetterBuffer: Int
    /// `hub.id` (`HUB_ID`), default a random id per start: the prefix of batch ids (each start adds an epoch).
    package var hubID: String
    /// Most numeric fields of one reading (`validation.max_fields`).
    package var maxFields: Int
    /// Distinct metric names in the deployment (`validation.max_metric_names`).
    package var maxMetricNames: Int
    /// `shutdown.timeout_s` (`SHUTDOWN_TIMEOUT_S`), default `30`.
    package var shutdownTimeoutSeconds: Int
    /// How the supervisor restarts failed stages (`supervisor.*`).
    package var restartPolicy: RestartPolicy

    package init(reader config: ConfigReader) throws(ConfigurationError) {
        redis = RedisEndpoint(
            host: try config.strictString("redis.host", default: "127.0.0.1"),
            port: try config.strictInt("redis.port", default: 6379, in: 1...65535))
        keys = RedisKeys(prefix: try config.strictString("redis.key_prefix", default: "telemetry"))
        shards = try config.strictInt("streams.shards", default: 8, in: 1...1024)
        streamRetentionDays = try config.strictInt("streams.retention_days", default: 7, in: 1...3650)
        trimIntervalSeconds = try config.strictInt("streams.trim_interval_s", default: 60, in: 1...86_400)
        batchSize = try config.strictInt("ingest.batch_size", default: 1000, in: 1...HubBatchCodec.maxTableEntries)
        flushIntervalMillis = try config.strictInt("ingest.flush_interval_ms", default: 5, in: 1...60_000)
        flushWhenIdle = try config.strictBool("ingest.flush_when_idle", default: true)
        bufferBatches = try config.strictInt("ingest.buffer_batches", default: 256, in: 1...1_000_000)
        let policy = try config.strictString("ingest.full_policy", default: "block", choices: BufferFullPolicy.allCases.map(\.rawValue))
        fullPolicy = BufferFullPolicy(rawValue: policy)!
        ringCapacity = try config.strictInt("ingest.ring_capacity", default: 65_536, in: 16...(1 << 24))
        publisherPipeline = try config.strictInt("publisher.pipeline", default: 64, in: 1...10_000)
        let defaultSpool = ProcessInfo.processInfo.environment["STATE_DIRECTORY"].map { "\($0)/spool" } ?? "/var/lib/telemetry-hub/spool"
        spoolDirectory = try config.strictString("spool.dir", default: defaultSpool)
        spoolSegmentBytes = try config.strictInt("spool.segment_bytes", default: 64 << 20, in: 4096...(1 << 30))
        spoolMaxBytes = try config.strictInt("spool.max_bytes", default: 1 << 30, in: 4096...(1 << 50))
        spoolFsync = try config.strictBool("spool.fsync", default: true)
        let spoolPolicy = try config.strictString("spool.full_policy", default: "block", choices: BufferFullPolicy.allCases.map(\.rawValue))
        spoolFullPolicy = BufferFullPolicy(rawValue: spoolPolicy)!
        breakerProbeMillis = try config.strictInt("breaker.probe_ms", default: 500, in: 10...600_000)
        breakerMaxProbeMillis = try config.strictInt("breaker.max_probe_ms", default: 5000, in: 10...3_600_000)
        if try config.strictBool("simulated.enabled", default: true) {
            simulated = try SimulatedBusConfiguration(reader: config, prefix: "simulated")
        }
        buses = try BusConfiguration.all(reader: config)
        deadLetterBuffer = try config.strictInt("dead_letters.buffer", default: 10_000, in: 1...10_000_000)
        let defaultID = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        hubID = try config.strictString("hub.id", default: defaultID)
        maxMetricNames = try config.strictInt("validation.max_metric_names", default: 10_000, in: 1...1_000_000)
        maxFields = try config.strictInt("validation.max_fields", default: ValidationPolicy.defaultMaxFields, in: 1...60_000)
        shutdownTimeoutSeconds = try config.strictInt("shutdown.timeout_s", default: 30, in: 1...3600)
        restartPolicy = try RestartPolicy(reader: config)
    }
}

/// The simulated bus (see ``HubConfiguration`` for its keys).
package struct SimulatedBusConfiguration: Sendable {
    package var sensors: Int
    package var rateHz: Double
    package var readings: Int
    package var spikeProbability: Double
    package var devicePrefix: String
    package var seed: UInt64

    package init(reader config: ConfigReader, prefix: String) throws(ConfigurationError) {
        sensors = try config.strictInt("\(prefix).sensors", default: 24, in: 1...100_000)
        rateHz = try config.strictDouble("\(prefix).rate_hz", default: 1, in: 0.001...1_000_000)
        readings = try config.strictInt("\(prefix).readings", default: 0, in: 0...Int.max)
        spikeProbability = try config.strictDouble("\(prefix).spike_probability", default: 0, in: 0...1)
        devicePrefix = try config.strictString("\(prefix).device_prefix", default: "sim")
        seed = UInt64(try config.strictInt("\(prefix).seed", default: 1, in: 0...Int.max))
    }
}
