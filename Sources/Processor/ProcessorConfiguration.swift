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

/// Everything the processor reads from configuration: one value per component, each read from
/// its own section with ``ConfigReader/section(_:_:)`` (a reader `scoped(to:)` the section).
///
/// Keys (environment name in brackets), defaults:
/// - `redis.host` (`REDIS_HOST`) 127.0.0.1, `redis.port` (`REDIS_PORT`) 6379, `redis.key_prefix` telemetry
/// - `streams.shards` 8; `consumer.group` processors; `consumer.name` (`CONSUMER_NAME`) the host name;
///   `consumer.read_count` 64 entries per read; `consumer.block_ms` 200 (≤ 1000)
/// - `num_workers` (`NUM_WORKERS`) 8; `worker.queue_depth` 64 items per worker
/// - `postgres.url` (`POSTGRES_URL`) empty = libpq's `PG*` variables
/// - `compat.window` 64 tasks per move
/// - `lease.ttl_ms` 5000 (a shard whose owner stops renewing is taken over after this; also the
///   consumer heartbeat's TTL), `lease.renew_ms` 1000
/// - `retry.max_retries` 3, `retry.base_ms` 100, `retry.max_ms` 10000
/// - `metrics.names` [] and `metrics.<name>.unit`: metrics beyond temperature, humidity and pressure,
///   whose `thresholds.<name>.*` and `validation.<name>.*` are then read too (no bound by default)
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
///   `partitions.hourly_retention_days` 1826, `partitions.daily_retention_days` 0 (forever), `partitions.interval_s` 3600
/// - `cache.enabled` true: the processor writes latest values through to the query daemon's
///   hot-attribute cache after each COMMIT (into entries a fill created; it never creates one)
/// - `tenants.default` `default`: the tenant of seed-format tasks and of batches that name none
///   (Docs/tenants.md; the section's other keys are read too, so one `tenants:` block fits every daemon)
/// - `lake.path` (off when empty), `lake.delay_s` 3600, `lake.interval_s` 60, `lake.compression` zstd,
///   `lake.zstd_level` 3, `lake.row_group_rows` 1000000, `lake.page_rows` 65536 (Docs/lake.md)
/// - `shutdown.timeout_s` 30: graceful drain budget after SIGTERM, then the process is cancelled
/// - `supervisor.max_restarts` 5 within `supervisor.period_s` 60 (then the process exits 1),
///   `supervisor.backoff_initial_ms` 100, `supervisor.backoff_max_ms` 10000
package struct ProcessorConfiguration: Sendable {
    /// Section `redis`; the endpoint's timeout is `consumer.block_ms` + 5 s, so a blocking read
    /// never times out before Redis answers.
    package var redis: RedisConfiguration
    /// `streams.shards` (`STREAMS_SHARDS`), default `8`.
    package var shards: Int
    /// Section `consumer`.
    package var consumer: ConsumerConfiguration
    /// `num_workers` (`NUM_WORKERS`) and section `worker`.
    package var worker: WorkerConfiguration
    /// Section `storage` and `postgres.url`.
    package var storage: StorageConfiguration
    /// `compat.window` (`COMPAT_WINDOW`), default `64`: tasks moved from the compatibility list per move.
    package var compatWindow: Int
    /// Section `lease`.
    package var lease: LeaseConfiguration
    /// Section `retry`.
    package var retry: RetryConfiguration
    /// Metrics declared beyond the built-in temperature, humidity and pressure (`metrics.names`),
    /// each with its unit (`metrics.<name>.unit`, empty when not given): their thresholds and
    /// ranges are read like the built-ins'.
    package var metricUnits: [String: String]
    /// Alert thresholds per metric (section `thresholds`).
    package var thresholds: [String: ThresholdRule]
    /// `anomaly.zscore` (`ANOMALY_ZSCORE`), default `4`.
    package var zScore: Double
    /// `anomaly.min_samples` (`ANOMALY_MIN_SAMPLES`), default `30`.
    package var anomalyMinSamples: Int
    /// Ranges, field and age limits for incoming readings (section `validation`).
    package var validation: ValidationPolicy
    /// Distinct metric names the deployment may hold (`validation.max_metric_names`).
    package var maxMetricNames: Int
    /// The dead-letter stream's cap in bytes (`dead_letters.max_bytes`).
    package var deadLetterMaxBytes: Int
    /// Section `partitions`.
    package var partitions: PartitionsConfiguration
    /// `shutdown.timeout_s` (`SHUTDOWN_TIMEOUT_S`), default `30`.
    package var shutdownTimeoutSeconds: Int
    /// `cache.enabled` (`CACHE_ENABLED`), default true: write latest values through to the cache.
    package var cacheEnabled: Bool
    /// Section `tenants` (no tokens loaded: the processor needs only the default tenant's name).
    package var tenants: TenantDirectory
    /// The rules a reload can change.
    package var analysis: AnalysisSettings {
        AnalysisSettings(thresholds: thresholds, zScore: zScore, minSamples: anomalyMinSamples)
    }
    /// How the supervisor restarts failed stages (section `supervisor`).
    package var restartPolicy: RestartPolicy
    /// Section `lake`: the Parquet exporter (off without `lake.path`).
    package var lake: LakeConfiguration
    /// Section `health`: device silence.
    package var health: HealthConfiguration
    /// Section `alerting`: where alerts are delivered.
    package var alerting: AlertingConfiguration

    package init(reader config: ConfigReader) throws(ConfigurationError) {
        redis = try config.section("redis", RedisConfiguration.init(reader:))
        shards = try config.section("streams") { reader throws(ConfigurationError) in try reader.strictInt("shards", default: 8, in: 1...1024) }
        consumer = try config.section("consumer", ConsumerConfiguration.init(reader:))
        redis.endpoint.timeout = .milliseconds(consumer.blockMillis + 5000)
        let workers = try config.strictInt("num_workers", default: 8, in: 1...256)
        worker = try config.section("worker") { reader throws(ConfigurationError) in try WorkerConfiguration(count: workers, reader: reader) }
        let url = try config.strictString("postgres.url", default: "")
        storage = try config.section("storage") { reader throws(ConfigurationError) in try StorageConfiguration(url: url, reader: reader) }
        compatWindow = try config.strictInt("compat.window", default: 64, in: 1...10_000)
        lease = try config.section("lease", LeaseConfiguration.init(reader:))
        retry = try config.section("retry", RetryConfiguration.init(reader:))
        metricUnits = try config.section("metrics", Self.metricUnits(reader:))
        let declared = Array(metricUnits.keys)
        thresholds = try config.section("thresholds") { reader throws(ConfigurationError) in try Self.thresholds(reader: reader, declared: declared) }
        zScore = try config.strictDouble("anomaly.zscore", default: 4, in: 0.5...1000)
        anomalyMinSamples = try config.strictInt("anomaly.min_samples", default: 30, in: 2...1_000_000)
        partitions = try config.section("partitions", PartitionsConfiguration.init(reader:))
        let maxAgeMicros = Int64(partitions.retentionDays) * 86_400 * 1_000_000
        validation = try config.section("validation") { reader throws(ConfigurationError) in
            try Self.validation(reader: reader, maxAgeMicros: maxAgeMicros, declared: declared)
        }
        maxMetricNames = try config.strictInt("validation.max_metric_names", default: 10_000, in: 1...1_000_000)
        deadLetterMaxBytes = try config.strictInt("dead_letters.max_bytes", default: 256 << 20, in: 1 << 16...(1 << 40))
        shutdownTimeoutSeconds = try config.strictInt("shutdown.timeout_s", default: 30, in: 1...3600)
        cacheEnabled = try config.strictBool("cache.enabled", default: true)
        restartPolicy = try config.section("supervisor", RestartPolicy.init(reader:))
        tenants = try TenantDirectory(reader: config, loading: .none, defaultToken: nil)
        lake = try config.section("lake", LakeConfiguration.init(reader:))
        health = try config.section("health", HealthConfiguration.init(reader:))
        alerting = try config.section("alerting", AlertingConfiguration.init(reader:))
    }

    /// `names` and `<name>.unit`: the declared metrics and their units.
    static func metricUnits(reader config: ConfigReader) throws(ConfigurationError) -> [String: String] {
        var units: [String: String] = [:]
        for name in try config.strictStringArray("names", default: []) {
            // The name becomes part of configuration keys (thresholds.<name>.high), so no dots.
            guard name.utf8.count <= 64, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }),
                  name != "names" else {
                throw ConfigurationError(key: "names", "\"\(name)\" is not a usable metric name here (ASCII letters, digits, _ and -, at most 64)")
            }
            guard units[name] == nil else { throw ConfigurationError(key: "names", "\"\(name)\" appears twice") }
            units[name] = try config.section(name) { reader throws(ConfigurationError) in try reader.strictString("unit", default: "") }
        }
        return units
    }

    /// `<metric>.low|high|severity` for the built-in metrics (with their default thresholds) and
    /// the `declared` ones (no threshold unless configured).
    static func thresholds(reader config: ConfigReader, declared: [String] = []) throws(ConfigurationError) -> [String: ThresholdRule] {
        var bounds: [String: (Double?, Double?)] = ["temperature": (-20, 60), "humidity": (nil, 95), "pressure": (950, 1060)]
        for metric in declared where bounds[metric] == nil { bounds[metric] = (nil, nil) }
        var thresholds: [String: ThresholdRule] = [:]
        for (metric, (defaultLow, defaultHigh)) in bounds {
            let low = try config.strictDouble("\(metric).low", default: defaultLow ?? -.greatestFiniteMagnitude)
            let high = try config.strictDouble("\(metric).high", default: defaultHigh ?? .greatestFiniteMagnitude)
            let severity = try config.strictString("\(metric).severity", default: "critical", choices: ["info", "warning", "critical"])
            let rule = ThresholdRule(
                metric: metric,
                low: low == -.greatestFiniteMagnitude ? nil : low,
                high: high == .greatestFiniteMagnitude ? nil : high,
                severity: severity)
            if rule.low != nil || rule.high != nil { thresholds[metric] = rule }
        }
        return thresholds
    }

    /// `<metric>.min|max`, `max_fields` and `max_future_skew_s`; readings older than `maxAgeMicros`
    /// (the samples' retention) are refused.
    static func validation(reader config: ConfigReader, maxAgeMicros: Int64, declared: [String] = []) throws(ConfigurationError) -> ValidationPolicy {
        var validation = ValidationPolicy.default
        var ranges = ValidationPolicy.default.ranges
        let unbounded = -Double.greatestFiniteMagnitude...Double.greatestFiniteMagnitude
        for metric in declared where ranges[metric] == nil { ranges[metric] = unbounded }
        for (metric, range) in ranges {
            let low = try config.strictDouble("\(metric).min", default: range.lowerBound)
            let high = try config.strictDouble("\(metric).max", default: range.upperBound)
            guard low <= high else { throw ConfigurationError(key: "\(metric).min", "must not exceed validation.\(metric).max") }
            if low...high == unbounded { validation.ranges[metric] = nil } else { validation.ranges[metric] = low...high }
        }
        validation.maxFields = try config.strictInt("max_fields", default: ValidationPolicy.defaultMaxFields, in: 1...60_000)
        validation.maxFutureSkewMicros = Int64(try config.strictInt("max_future_skew_s", default: 300, in: 0...86_400 * 365)) * 1_000_000
        validation.maxAgeMicros = maxAgeMicros
        return validation
    }
}

/// Reading the streams (section `consumer`).
package struct ConsumerConfiguration: Sendable {
    /// `group` (`CONSUMER_GROUP`), default `processors`: the streams' consumer group.
    package var group: String
    /// `name` (`CONSUMER_NAME`), default the host name: this processor in the group; must be unique.
    package var name: String
    /// `read_count` (`CONSUMER_READ_COUNT`), default 64 entries per read.
    package var readCount: Int
    /// `block_ms` (`CONSUMER_BLOCK_MS`), default 200 (at most 1000): how long a read waits for entries.
    package var blockMillis: Int
    /// `max_deliveries`, default 5: an entry or task delivered more often is dead-lettered as `poison`.
    package var maxDeliveries: Int
    /// `claim_idle_ms`, default 30 000: pending work no worker holds is delivered again after this.
    package var claimIdleMillis: Int
    /// `claim_interval_ms`, default 5000: how often stranded work is looked for.
    package var claimIntervalMillis: Int

    package init(reader config: ConfigReader) throws(ConfigurationError) {
        group = try config.strictString("group", default: "processors")
        name = try config.strictString("name", default: ProcessInfo.processInfo.hostName)
        readCount = try config.strictInt("read_count", default: 64, in: 1...10_000)
        blockMillis = try config.strictInt("block_ms", default: 200, in: 1...1000)
        maxDeliveries = try config.strictInt("max_deliveries", default: 5, in: 1...1000)
        claimIdleMillis = try config.strictInt("claim_idle_ms", default: 30_000, in: 100...86_400_000)
        claimIntervalMillis = try config.strictInt("claim_interval_ms", default: 5000, in: 50...3_600_000)
    }
}

/// The worker pool (`num_workers` and section `worker`).
package struct WorkerConfiguration: Sendable {
    /// `num_workers` (`NUM_WORKERS`), default 8.
    package var count: Int
    /// `worker.queue_depth` (`WORKER_QUEUE_DEPTH`), default 64 items waiting per worker.
    package var queueDepth: Int
    /// `worker.group_max`, default 64: most queued items a worker takes and commits together.
    package var groupMax: Int

    /// `count` as read from `num_workers`; the rest from a reader scoped to `worker`.
    package init(count: Int, reader config: ConfigReader) throws(ConfigurationError) {
        self.count = count
        queueDepth = try config.strictInt("queue_depth", default: 64, in: 1...100_000)
        groupMax = try config.strictInt("group_max", default: 64, in: 1...100_000)
    }
}

/// Writing PostgreSQL (`postgres.url` and section `storage`).
package struct StorageConfiguration: Sendable {
    /// `postgres.url` (`POSTGRES_URL`), default empty: libpq's `PG*` environment variables.
    package var url: String
    /// `storage.connections`, default 2: one storage thread each; worker `i` writes through connection `i % n`.
    package var connections: Int
    /// `storage.group_rows`, default 20 000: most rows one group commit carries.
    package var groupRows: Int

    /// `url` as read from `postgres.url`; the rest from a reader scoped to `storage`.
    package init(url: String, reader config: ConfigReader) throws(ConfigurationError) {
        self.url = url
        connections = try config.strictInt("connections", default: 2, in: 1...64)
        groupRows = try config.strictInt("group_rows", default: 20_000, in: 1...1_000_000)
    }
}

/// Shard leases (section `lease`).
package struct LeaseConfiguration: Sendable {
    /// `ttl_ms` (`LEASE_TTL_MS`), default 5000: a shard whose owner stops renewing is taken over
    /// after this; also the consumer heartbeat's TTL.
    package var ttlMillis: Int
    /// `renew_ms` (`LEASE_RENEW_MS`), default 1000, at most half of `ttl_ms`.
    package var renewMillis: Int

    package init(reader config: ConfigReader) throws(ConfigurationError) {
        ttlMillis = try config.strictInt("ttl_ms", default: 5000, in: 100...600_000)
        renewMillis = try config.strictInt("renew_ms", default: 1000, in: 20...600_000)
        guard renewMillis * 2 <= ttlMillis else {
            throw ConfigurationError(key: "renew_ms", "must be at most half of lease.ttl_ms (\(ttlMillis))")
        }
    }
}

/// Retries of a failed store (section `retry`).
package struct RetryConfiguration: Sendable {
    /// `max_retries` (`RETRY_MAX_RETRIES`), default 3: then the item is dead-lettered.
    package var maxRetries: Int
    /// `base_ms` (`RETRY_BASE_MS`), default 100: the first backoff.
    package var baseMillis: Int
    /// `max_ms` (`RETRY_MAX_MS`), default 10 000: the longest backoff.
    package var maxMillis: Int

    package init(reader config: ConfigReader) throws(ConfigurationError) {
        maxRetries = try config.strictInt("max_retries", default: 3, in: 0...100)
        baseMillis = try config.strictInt("base_ms", default: 100, in: 1...600_000)
        maxMillis = try config.strictInt("max_ms", default: 10_000, in: 1...3_600_000)
    }
}

/// Day partitions of `samples` and the roll-ups (section `partitions`).
package struct PartitionsConfiguration: Sendable {
    /// `ahead_days` (`PARTITIONS_AHEAD_DAYS`), default 3: partitions created ahead of today.
    package var aheadDays: Int
    /// `retention_days` (`PARTITIONS_RETENTION_DAYS`), default 30: older sample partitions are dropped.
    package var retentionDays: Int
    /// `aggregate_retention_days` (`PARTITIONS_AGGREGATE_RETENTION_DAYS`), default 400: of `aggregates_1m`.
    package var aggregateRetentionDays: Int
    /// `hourly_retention_days` (`PARTITIONS_HOURLY_RETENTION_DAYS`), default 1826 (five years): of
    /// `aggregates_1h`; 0 keeps them forever.
    package var hourlyRetentionDays: Int
    /// `daily_retention_days` (`PARTITIONS_DAILY_RETENTION_DAYS`), default 0 (forever): of `aggregates_1d`.
    package var dailyRetentionDays: Int
    /// `interval_s` (`PARTITIONS_INTERVAL_S`), default 3600: seconds between maintenance runs.
    package var intervalSeconds: Int

    package init(reader config: ConfigReader) throws(ConfigurationError) {
        aheadDays = try config.strictInt("ahead_days", default: 3, in: 0...365)
        retentionDays = try config.strictInt("retention_days", default: 30, in: 1...36_500)
        aggregateRetentionDays = try config.strictInt("aggregate_retention_days", default: 400, in: 1...36_500)
        hourlyRetentionDays = try config.strictInt("hourly_retention_days", default: 1826, in: 0...36_500)
        dailyRetentionDays = try config.strictInt("daily_retention_days", default: 0, in: 0...36_500)
        intervalSeconds = try config.strictInt("interval_s", default: 3600, in: 1...86_400)
    }
}
