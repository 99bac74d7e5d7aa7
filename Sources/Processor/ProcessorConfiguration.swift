import Configuration
import Foundation
import Redis
import TelemetryCore
import TelemetryConfiguration
import Supervision

/// An alert threshold on one metric.
package struct ThresholdRule: Sendable, Equatable {
    package var metric: String
    package var low: Double?
    package var high: Double?
    package var severity: String

    package init(metric: String, low: Double?, high: Double?, severity: String) {
        self.metric = metric
        self.low = low
        self.high = high
        self.severity = severity
    }
}

/// Everything the processor reads from configuration.
///
/// Keys (environment name in brackets), defaults:
/// - `redis.host` (`REDIS_HOST`) 127.0.0.1, `redis.port` (`REDIS_PORT`) 6379, `redis.key_prefix` telemetry
/// - `streams.shards` 8; `consumer.group` processors; `consumer.name` (`CONSUMER_NAME`) the host name;
///   `consumer.read_count` 64 entries per read; `consumer.block_ms` 200 (≤ 1000)
/// - `num_workers` (`NUM_WORKERS`) 8; `worker.queue_depth` 16 items per worker
/// - `postgres.url` (`POSTGRES_URL`) empty = libpq's `PG*` variables
/// - `compat.window` 64 tasks per move
/// - `lease.ttl_ms` 5000 (a shard whose owner stops renewing is taken over after this; also the
///   consumer heartbeat's TTL), `lease.renew_ms` 1000
/// - `retry.max_retries` 3, `retry.base_ms` 100, `retry.max_ms` 10000
/// - `thresholds.<metric>.low|high|severity` (defaults: temperature high 60, low −20; humidity high 95;
///   pressure low 950, high 1060; severity critical)
/// - `anomaly.zscore` 4.0, `anomaly.min_samples` 30
/// - `validation.<metric>.min|max` (temperature −50…100, humidity 0…100, pressure 300…1100),
///   `validation.max_future_skew_s` 300, `validation.max_fields` 1024 numeric fields per task
///   (more: `too_large`), `validation.max_metric_names` 10000 distinct metric names in the deployment
///   (a new name beyond it: `cardinality_limit`)
/// - `dead_letters.max_bytes` 256 MiB: the dead-letter stream's cap (oldest deleted past it, counted)
/// - `consumer.max_deliveries` 5: an entry or task delivered more often is dead-lettered as `poison`
/// - `consumer.claim_idle_ms` 30000, `consumer.claim_interval_ms` 5000: every interval, entries of
///   owned shards pending this long and tasks left this long in the processing list, which no
///   worker holds (a lost `XREADGROUP` or `LMOVE` reply), are delivered again
/// - `partitions.ahead_days` 3, `partitions.retention_days` 30, `partitions.aggregate_retention_days` 400,
///   `partitions.interval_s` 3600
/// - `shutdown.timeout_s` 30: graceful drain budget after SIGTERM, then the process is cancelled
/// - `supervisor.max_restarts` 5 within `supervisor.period_s` 60 (then the process exits 1),
///   `supervisor.backoff_initial_ms` 100, `supervisor.backoff_max_ms` 10000
package struct ProcessorConfiguration: Sendable {
    package var redis: RedisEndpoint
    package var keys: RedisKeys
    /// `streams.shards` (`STREAMS_SHARDS`), default `8`.
    package var shards: Int
    /// `consumer.group` (`CONSUMER_GROUP`), default `"processors"`.
    package var group: String
    /// `consumer.name` (`CONSUMER_NAME`), default the host name.
    package var consumerName: String
    /// `consumer.read_count` (`CONSUMER_READ_COUNT`), default `64`.
    package var readCount: Int
    /// `consumer.block_ms` (`CONSUMER_BLOCK_MS`), default `200`.
    package var blockMillis: Int
    /// The dead-letter stream's cap in bytes (`dead_letters.max_bytes`).
    package var deadLetterMaxBytes: Int
    /// Idle time after which pending work no worker holds is delivered again (`consumer.claim_idle_ms`).
    package var claimIdleMillis: Int
    /// How often stranded work is looked for (`consumer.claim_interval_ms`).
    package var claimIntervalMillis: Int
    /// Deliveries after which an entry or task is dead-lettered as `poison` (`consumer.max_deliveries`).
    package var maxDeliveries: Int
    /// Distinct metric names the deployment may hold (`validation.max_metric_names`).
    package var maxMetricNames: Int
    /// `num_workers` (`NUM_WORKERS`), default `8`.
    package var workers: Int
    /// `worker.queue_depth` (`WORKER_QUEUE_DEPTH`), default `64`.
    package var workerQueueDepth: Int
    /// Most queued items a worker takes and commits together.
    package var workerGroupMax: Int
    /// PostgreSQL connections (one storage thread each); worker `i` writes through connection `i % n`.
    package var storageConnections: Int
    /// Most rows one group commit carries.
    package var storageGroupRows: Int
    /// `postgres.url` (`POSTGRES_URL`), default `""`.
    package var postgresURL: String
    /// `compat.window` (`COMPAT_WINDOW`), default `64`.
    package var compatWindow: Int
    /// `lease.ttl_ms` (`LEASE_TTL_MS`), default `5000`.
    package var leaseTTLMillis: Int
    /// `lease.renew_ms` (`LEASE_RENEW_MS`), default `1000`.
    package var leaseRenewMillis: Int
    /// `retry.max_retries` (`RETRY_MAX_RETRIES`), default `3`.
    package var maxRetries: Int
    /// `retry.base_ms` (`RETRY_BASE_MS`), default `100`.
    package var retryBaseMillis: Int
    /// `retry.max_ms` (`RETRY_MAX_MS`), default `10_000`.
    package var retryMaxMillis: Int
    package var thresholds: [String: ThresholdRule]
    /// `anomaly.zscore` (`ANOMALY_ZSCORE`), default `4`.
    package var zScore: Double
    /// `anomaly.min_samples` (`ANOMALY_MIN_SAMPLES`), default `30`.
    package var anomalyMinSamples: Int
    package var validation: ValidationPolicy
    /// `partitions.ahead_days` (`PARTITIONS_AHEAD_DAYS`), default `3`.
    package var partitionsAheadDays: Int
    /// `partitions.retention_days` (`PARTITIONS_RETENTION_DAYS`), default `30`.
    package var retentionDays: Int
    /// `partitions.aggregate_retention_days` (`PARTITIONS_AGGREGATE_RETENTION_DAYS`), default `400`.
    package var aggregateRetentionDays: Int
    /// `partitions.interval_s` (`PARTITIONS_INTERVAL_S`), default `3600`.
    package var partitionIntervalSeconds: Int
    /// `shutdown.timeout_s` (`SHUTDOWN_TIMEOUT_S`), default `30`.
    package var shutdownTimeoutSeconds: Int
    /// The rules a reload can change.
    package var analysis: AnalysisSettings {
        AnalysisSettings(thresholds: thresholds, zScore: zScore, minSamples: anomalyMinSamples)
    }
    /// How the supervisor restarts failed stages (`supervisor.*`).
    package var restartPolicy: RestartPolicy

    package init(reader config: ConfigReader) throws(ConfigurationError) {
        redis = RedisEndpoint(
            host: try config.strictString("redis.host", default: "127.0.0.1"),
            port: try config.strictInt("redis.port", default: 6379, in: 1...65535))
        keys = RedisKeys(prefix: try config.strictString("redis.key_prefix", default: "telemetry"))
        shards = try config.strictInt("streams.shards", default: 8, in: 1...1024)
        group = try config.strictString("consumer.group", default: "processors")
        consumerName = try config.strictString("consumer.name", default: ProcessInfo.processInfo.hostName)
        readCount = try config.strictInt("consumer.read_count", default: 64, in: 1...10_000)
        blockMillis = try config.strictInt("consumer.block_ms", default: 200, in: 1...1000)
        redis.timeout = .milliseconds(blockMillis + 5000)
        workers = try config.strictInt("num_workers", default: 8, in: 1...256)
        workerQueueDepth = try config.strictInt("worker.queue_depth", default: 64, in: 1...100_000)
        workerGroupMax = try config.strictInt("worker.group_max", default: 64, in: 1...100_000)
        postgresURL = try config.strictString("postgres.url", default: "")
        storageConnections = try config.strictInt("storage.connections", default: 2, in: 1...64)
        storageGroupRows = try config.strictInt("storage.group_rows", default: 20_000, in: 1...1_000_000)
        compatWindow = try config.strictInt("compat.window", default: 64, in: 1...10_000)
        leaseTTLMillis = try config.strictInt("lease.ttl_ms", default: 5000, in: 100...600_000)
        leaseRenewMillis = try config.strictInt("lease.renew_ms", default: 1000, in: 20...600_000)
        guard leaseRenewMillis * 2 <= leaseTTLMillis else {
            throw ConfigurationError(key: "lease.renew_ms", "must be at most half of lease.ttl_ms (\(leaseTTLMillis))")
        }
        maxRetries = try config.strictInt("retry.max_retries", default: 3, in: 0...100)
        retryBaseMillis = try config.strictInt("retry.base_ms", default: 100, in: 1...600_000)
        retryMaxMillis = try config.strictInt("retry.max_ms", default: 10_000, in: 1...3_600_000)
        let defaults: [String: (Double?, Double?)] = ["temperature": (-20, 60), "humidity": (nil, 95), "pressure": (950, 1060)]
        var thresholds: [String: ThresholdRule] = [:]
        for (metric, bounds) in defaults {
            let low = try config.strictDouble("thresholds.\(metric).low", default: bounds.0 ?? -.greatestFiniteMagnitude)
            let high = try config.strictDouble("thresholds.\(metric).high", default: bounds.1 ?? .greatestFiniteMagnitude)
            let severity = try config.strictString("thresholds.\(metric).severity", default: "critical", choices: ["info", "warning", "critical"])
            thresholds[metric] = ThresholdRule(
                metric: metric,
                low: low == -.greatestFiniteMagnitude ? nil : low,
                high: high == .greatestFiniteMagnitude ? nil : high,
                severity: severity)
        }
        self.thresholds = thresholds
        zScore = try config.strictDouble("anomaly.zscore", default: 4, in: 0.5...1000)
        anomalyMinSamples = try config.strictInt("anomaly.min_samples", default: 30, in: 2...1_000_000)
        var validation = ValidationPolicy.default
        for (metric, range) in ValidationPolicy.default.ranges {
            let low = try config.strictDouble("validation.\(metric).min", default: range.lowerBound)
            let high = try config.strictDouble("validation.\(metric).max", default: range.upperBound)
            guard low <= high else { throw ConfigurationError(key: "validation.\(metric).min", "must not exceed validation.\(metric).max") }
            validation.ranges[metric] = low...high
        }
        validation.maxFields = try config.strictInt("validation.max_fields", default: ValidationPolicy.defaultMaxFields, in: 1...60_000)
        maxMetricNames = try config.strictInt("validation.max_metric_names", default: 10_000, in: 1...1_000_000)
        maxDeliveries = try config.strictInt("consumer.max_deliveries", default: 5, in: 1...1000)
        deadLetterMaxBytes = try config.strictInt("dead_letters.max_bytes", default: 256 << 20, in: 1 << 16...(1 << 40))
        claimIdleMillis = try config.strictInt("consumer.claim_idle_ms", default: 30_000, in: 100...86_400_000)
        claimIntervalMillis = try config.strictInt("consumer.claim_interval_ms", default: 5000, in: 50...3_600_000)
        validation.maxFutureSkewMicros = Int64(try config.strictInt("validation.max_future_skew_s", default: 300, in: 0...86_400 * 365)) * 1_000_000
        partitionsAheadDays = try config.strictInt("partitions.ahead_days", default: 3, in: 0...365)
        retentionDays = try config.strictInt("partitions.retention_days", default: 30, in: 1...36_500)
        aggregateRetentionDays = try config.strictInt("partitions.aggregate_retention_days", default: 400, in: 1...36_500)
        partitionIntervalSeconds = try config.strictInt("partitions.interval_s", default: 3600, in: 1...86_400)
        shutdownTimeoutSeconds = try config.strictInt("shutdown.timeout_s", default: 30, in: 1...3600)
        restartPolicy = try RestartPolicy(reader: config)
        validation.maxAgeMicros = Int64(retentionDays) * 86_400 * 1_000_000
        self.validation = validation
    }
}
