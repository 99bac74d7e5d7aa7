import Configuration
import Foundation
import Redis
import Supervision
import TelemetryConfiguration
import TelemetryCore

/// Everything the hub reads from configuration: one value per component, each read from its own
/// section with ``ConfigReader/section(_:_:)`` (a reader `scoped(to:)` the section).
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
/// - `simulated.enabled` false (made-up readings: for trials, never a production database), `simulated.sensors` 24, `simulated.rate_hz` 1 (readings per sensor
///   per second), `simulated.readings` 0 (per sensor; 0 = unlimited), `simulated.spike_probability` 0,
///   `simulated.device_prefix` sim, `simulated.seed` 1
/// - `buses.names` [] and `buses.<name>.*`: UART line protocol, Modbus RTU and BME280 buses
///   (``BusConfiguration``; Docs/buses.md)
/// - `dead_letters.buffer` 10000: unreadable device input waiting for Redis (oldest dropped, counted)
/// - `validation.max_fields` (`VALIDATION_MAX_FIELDS`) 1024: most numeric fields of one HTTP sample,
///   task or device line; more is refused whole as `too_large`
/// - `validation.max_metric_names` (`VALIDATION_MAX_METRIC_NAMES`) 10000: distinct metric names in the
///   deployment; an HTTP sample with a new name past it is refused (400 `cardinality_limit`)
/// - `line_protocol.device_tags` [device_id, device, host], `line_protocol.metric_name` `field` |
///   `measurement.field`, `line_protocol.string_fields` `keep` | `reject`: how InfluxDB line protocol
///   (HTTP `/write`, MQTT) becomes samples (``LineProtocolMapping``; Docs/http-ingest.md)
/// - `mqtt.brokers` [] and `mqtt.broker.<name>.*`: MQTT brokers to subscribe to (``MQTTBrokerConfiguration``; Docs/mqtt.md)
/// - `hub.id` a random id per start (prefix of every batch id; each start adds an epoch)
/// - `shutdown.timeout_s` 30: graceful drain budget after SIGTERM, then the process is cancelled
/// - `supervisor.max_restarts` 5 within `supervisor.period_s` 60 (then the process exits 1),
///   `supervisor.backoff_initial_ms` 100, `supervisor.backoff_max_ms` 10000
package struct HubConfiguration: Sendable {
    /// Section `redis`.
    package var redis: RedisConfiguration
    /// Section `streams`.
    package var streams: StreamsConfiguration
    /// Section `ingest`: rings, batches and the buffer to the publisher.
    package var ingest: IngestConfiguration
    /// Section `publisher`.
    package var publisher: PublisherConfiguration
    /// Section `breaker`: how often Redis is probed while the publisher spools.
    package var breaker: BreakerConfiguration
    /// Section `spool`.
    package var spool: SpoolConfiguration
    /// Section `simulated`; nil when `simulated.enabled` is false.
    package var simulated: SimulatedBusConfiguration?
    /// The device buses (`buses.names`, then `buses.<name>.*`).
    package var buses: [BusConfiguration]
    /// Dead letters waiting for Redis (`dead_letters.buffer`).
    package var deadLetterBuffer: Int
    /// Section `validation`.
    package var validation: HubValidationConfiguration
    /// The MQTT brokers (`mqtt.brokers`, then `mqtt.broker.<name>.*`; Docs/mqtt.md).
    package var mqtt: [MQTTBrokerConfiguration]
    /// Section `line_protocol`: how line-protocol points become samples.
    package var lineProtocol: LineProtocolMapping
    /// `hub.id` (`HUB_ID`), default a random id per start: the prefix of batch ids (each start adds an epoch).
    package var hubID: String
    /// `shutdown.timeout_s` (`SHUTDOWN_TIMEOUT_S`), default `30`.
    package var shutdownTimeoutSeconds: Int
    /// How the supervisor restarts failed stages (section `supervisor`).
    package var restartPolicy: RestartPolicy

    package init(reader config: ConfigReader) throws(ConfigurationError) {
        redis = try config.section("redis", RedisConfiguration.init(reader:))
        streams = try config.section("streams", StreamsConfiguration.init(reader:))
        ingest = try config.section("ingest", IngestConfiguration.init(reader:))
        publisher = try config.section("publisher", PublisherConfiguration.init(reader:))
        publisher.durableReplicas = try config.strictInt("redis.durable_replicas", default: 0, in: 0...100)
        publisher.durableTimeoutMillis = try config.strictInt("redis.durable_timeout_ms", default: 1000, in: 10...30_000)
        breaker = try config.section("breaker", BreakerConfiguration.init(reader:))
        spool = try config.section("spool", SpoolConfiguration.init(reader:))
        // Read whether enabled or not, so every simulated.* key is known (a file may keep them off).
        simulated = try config.section("simulated") { reader throws(ConfigurationError) in
            let enabled = try reader.strictBool("enabled", default: false)
            let settings = try SimulatedBusConfiguration(reader: reader)
            return enabled ? settings : nil
        }
        buses = try BusConfiguration.all(reader: config)
        deadLetterBuffer = try config.section("dead_letters") { reader throws(ConfigurationError) in
            try reader.strictInt("buffer", default: 10_000, in: 1...10_000_000)
        }
        validation = try config.section("validation", HubValidationConfiguration.init(reader:))
        lineProtocol = try config.section("line_protocol", LineProtocolMapping.init(reader:))
        mqtt = try MQTTBrokerConfiguration.all(reader: config)
        let configuredID = try config.strictString("hub.id", default: "")
        hubID = configuredID.isEmpty ? String(UInt64.random(in: 0...UInt64.max), radix: 36) : configuredID
        shutdownTimeoutSeconds = try config.strictInt("shutdown.timeout_s", default: 30, in: 1...3600)
        restartPolicy = try config.section("supervisor", RestartPolicy.init(reader:))
    }
}

/// The Redis streams the hub writes (section `streams`).
package struct StreamsConfiguration: Sendable {
    /// `shards` (`STREAMS_SHARDS`), default 8: one stream per shard.
    package var shards: Int
    /// `retention_days` (`STREAMS_RETENTION_DAYS`), default 7: entries older than this are trimmed.
    package var retentionDays: Int
    /// `trim_interval_s`, default 60: seconds between retention trims.
    package var trimIntervalSeconds: Int

    package init(reader config: ConfigReader) throws(ConfigurationError) {
        shards = try config.strictInt("shards", default: 8, in: 1...1024)
        retentionDays = try config.strictInt("retention_days", default: 7, in: 1...3650)
        trimIntervalSeconds = try config.strictInt("trim_interval_s", default: 60, in: 1...86_400)
    }
}

/// From the rings to batches (section `ingest`).
package struct IngestConfiguration: Sendable {
    /// `batch_size` (`INGEST_BATCH_SIZE`), default 1000 samples, at most 65 535.
    package var batchSize: Int
    /// `flush_interval_ms` (`INGEST_FLUSH_INTERVAL_MS`), default 5: an open batch closes after this.
    package var flushIntervalMillis: Int
    /// `flush_when_idle`, default true: close open batches once the rings stay empty over a drain pause.
    package var flushWhenIdle: Bool
    /// `buffer_batches` (`INGEST_BUFFER_BATCHES`), default 256: batches waiting for the publisher.
    package var bufferBatches: Int
    /// `full_policy`, default `block`: what a full buffer does to the next batch.
    package var fullPolicy: BufferFullPolicy
    /// `ring_capacity` (`INGEST_RING_CAPACITY`), default 65 536 samples per device bus.
    package var ringCapacity: Int

    package init(reader config: ConfigReader) throws(ConfigurationError) {
        batchSize = try config.strictInt("batch_size", default: 1000, in: 1...HubBatchCodec.maxTableEntries)
        flushIntervalMillis = try config.strictInt("flush_interval_ms", default: 5, in: 1...60_000)
        flushWhenIdle = try config.strictBool("flush_when_idle", default: true)
        bufferBatches = try config.strictInt("buffer_batches", default: 256, in: 1...1_000_000)
        fullPolicy = try config.strictPolicy("full_policy")
        ringCapacity = try config.strictInt("ring_capacity", default: 65_536, in: 16...(1 << 24))
    }
}

/// Writing batches to Redis (section `publisher`).
package struct PublisherConfiguration: Sendable {
    /// `pipeline` (`PUBLISHER_PIPELINE`), default 64 batches per round trip.
    package var pipeline: Int
    /// `redis.durable_replicas` (`REDIS_DURABLE_REPLICAS`), default 0: with n ≥ 1, each pipeline
    /// of XADDs is followed by `WAIT n`, and a batch counts as durable (HTTP 202, a device batch
    /// released) once n replicas have it, or once it is fsync'd in the spool when WAIT times out.
    package var durableReplicas = 0
    /// `redis.durable_timeout_ms` (`REDIS_DURABLE_TIMEOUT_MS`), default 1000: WAIT's timeout.
    package var durableTimeoutMillis = 1000

    package init(reader config: ConfigReader) throws(ConfigurationError) {
        pipeline = try config.strictInt("pipeline", default: 64, in: 1...10_000)
    }
}

/// The publisher's breaker (section `breaker`).
package struct BreakerConfiguration: Sendable {
    /// `probe_ms` (`BREAKER_PROBE_MS`), default 500: the first wait before Redis is probed again.
    package var probeMillis: Int
    /// `max_probe_ms` (`BREAKER_MAX_PROBE_MS`), default 5000: the longest wait between probes.
    package var maxProbeMillis: Int

    package init(reader config: ConfigReader) throws(ConfigurationError) {
        probeMillis = try config.strictInt("probe_ms", default: 500, in: 10...600_000)
        maxProbeMillis = try config.strictInt("max_probe_ms", default: 5000, in: 10...3_600_000)
    }
}

/// The disk spool for batches Redis cannot take (section `spool`).
package struct SpoolConfiguration: Sendable {
    /// `dir` (`SPOOL_DIR`), default `$STATE_DIRECTORY/spool`, else /var/lib/telemetry-hub/spool.
    package var directory: String
    /// `segment_bytes` (`SPOOL_SEGMENT_BYTES`), default 64 MiB per segment file.
    package var segmentBytes: Int
    /// `max_bytes` (`SPOOL_MAX_BYTES`), default 1 GiB over all segments.
    package var maxBytes: Int
    /// `fsync` (`SPOOL_FSYNC`), default true: records are fsync'd before they count as durable.
    package var fsync: Bool
    /// `full_policy`, default `block`: what a full spool does to the next batch.
    package var fullPolicy: BufferFullPolicy

    package init(reader config: ConfigReader) throws(ConfigurationError) {
        let defaultDirectory = ProcessInfo.processInfo.environment["STATE_DIRECTORY"].map { "\($0)/spool" } ?? "/var/lib/telemetry-hub/spool"
        directory = try config.strictString("dir", default: defaultDirectory)
        segmentBytes = try config.strictInt("segment_bytes", default: 64 << 20, in: 4096...(1 << 30))
        maxBytes = try config.strictInt("max_bytes", default: 1 << 30, in: 4096...(1 << 50))
        fsync = try config.strictBool("fsync", default: true)
        fullPolicy = try config.strictPolicy("full_policy")
    }
}

/// Limits on what HTTP clients and devices send (section `validation`).
package struct HubValidationConfiguration: Sendable {
    /// `max_fields` (`VALIDATION_MAX_FIELDS`), default 1024: most numeric fields of one reading.
    package var maxFields: Int
    /// `max_metric_names` (`VALIDATION_MAX_METRIC_NAMES`), default 10 000 distinct names in the deployment.
    package var maxMetricNames: Int

    package init(reader config: ConfigReader) throws(ConfigurationError) {
        maxFields = try config.strictInt("max_fields", default: ValidationPolicy.defaultMaxFields, in: 1...60_000)
        maxMetricNames = try config.strictInt("max_metric_names", default: 10_000, in: 1...1_000_000)
    }
}

/// The simulated bus (section `simulated`; see ``HubConfiguration`` for its keys).
package struct SimulatedBusConfiguration: Sendable {
    /// `sensors`, default 24 devices.
    package var sensors: Int
    /// `rate_hz`, default 1 reading per sensor per second.
    package var rateHz: Double
    /// `readings`, default 0: readings per sensor before the bus stops (0 = unlimited).
    package var readings: Int
    /// `spike_probability`, default 0: the chance that a reading is an outlier.
    package var spikeProbability: Double
    /// `device_prefix`, default `sim`: devices are named `<prefix>_001`, `<prefix>_002`, …
    package var devicePrefix: String
    /// `seed`, default 1: the generator's seed, so runs repeat.
    package var seed: UInt64

    package init(reader config: ConfigReader) throws(ConfigurationError) {
        sensors = try config.strictInt("sensors", default: 24, in: 1...100_000)
        rateHz = try config.strictDouble("rate_hz", default: 1, in: 0.001...1_000_000)
        readings = try config.strictInt("readings", default: 0, in: 0...Int.max)
        spikeProbability = try config.strictDouble("spike_probability", default: 0, in: 0...1)
        devicePrefix = try config.strictString("device_prefix", default: "sim")
        seed = UInt64(try config.strictInt("seed", default: 1, in: 0...Int.max))
    }
}

extension ConfigReader {
    /// A ``BufferFullPolicy`` by name, default `block`.
    fileprivate func strictPolicy(_ key: String) throws(ConfigurationError) -> BufferFullPolicy {
        let name = try strictString(key, default: BufferFullPolicy.block.rawValue, choices: BufferFullPolicy.allCases.map(\.rawValue))
        return BufferFullPolicy(rawValue: name)!
    }
}

extension LineProtocolMapping {
    /// Reads a reader scoped to `line_protocol`.
    package init(reader config: ConfigReader) throws(ConfigurationError) {
        let defaults = LineProtocolMapping()
        let tags = try config.strictStringArray("device_tags", default: defaults.deviceTags)
        guard !tags.isEmpty, tags.allSatisfy({ !$0.isEmpty }) else {
            throw ConfigurationError(key: "line_protocol.device_tags", "must name at least one tag, none empty")
        }
        let naming = try config.strictString("metric_name", default: defaults.metricNaming.rawValue, choices: MetricNaming.allCases.map(\.rawValue))
        let strings = try config.strictString("string_fields", default: defaults.stringFields.rawValue, choices: StringFields.allCases.map(\.rawValue))
        self.init(deviceTags: tags, metricNaming: MetricNaming(rawValue: naming) ?? .field, stringFields: StringFields(rawValue: strings) ?? .keep)
    }
}
