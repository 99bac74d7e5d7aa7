/// The Redis key names of Docs/architecture.md, under a configurable prefix (default `telemetry`).
public struct RedisKeys: Sendable, Hashable {
    /// The first component of every key (`redis.key_prefix`, `telemetry` by default).
    public let prefix: String

    /// The key names under `prefix`.
    public init(prefix: String = "telemetry") { self.prefix = prefix }

    /// `telemetry:stream:<n>`.
    public func stream(_ shard: Int) -> String { "\(prefix):stream:\(shard)" }
    /// `telemetry:lease:<n>`.
    public func lease(_ shard: Int) -> String { "\(prefix):lease:\(shard)" }
    /// `telemetry:dlq`.
    public var deadLetters: String { "\(prefix):dlq" }
    /// `telemetry:retries`: retry state of failing items (hash).
    public var retries: String { "\(prefix):retries" }
    /// `telemetry:deliveries`: how often each compatibility task in a processing list was handed to
    /// a worker (hash, field = FNV-1a-64 of the task's bytes); removed when the task is finished.
    public var deliveries: String { "\(prefix):deliveries" }
    /// `telemetry:metric_names`: the deployment's metric names (set), so a hub can refuse a new
    /// name past `validation.max_metric_names` before it answers 202. Seeded and kept up to date
    /// by the processors from PostgreSQL; hubs add the names they admit.
    public var metricNames: String { "\(prefix):metric_names" }
    /// `telemetry:latest:<device>`: the hot-attribute cache of a device's latest values (hash,
    /// field = metric name), written through by the processors and filled by the query daemon.
    /// A tenant other than the default one (nil) has keys of its own, `telemetry:latest@<tenant>:<device>`:
    /// a tenant name holds no `:`, so no device name of one tenant can make another's key.
    public func latest(_ device: String, tenant: String? = nil) -> String {
        guard let tenant else { return "\(prefix):latest:\(device)" }
        return "\(prefix):latest@\(tenant):\(device)"
    }
    /// `telemetry:tasks` (compatibility ingress).
    public var tasks: String { "\(prefix):tasks" }
    /// `telemetry:tasks:processing:<consumer>`.
    public func processing(_ consumer: String) -> String { "\(prefix):tasks:processing:\(consumer)" }
    /// Pattern matching every processing list.
    public var processingPattern: String { "\(prefix):tasks:processing:*" }
    /// `telemetry:consumer:<consumer>` (heartbeat with a TTL).
    public func heartbeat(_ consumer: String) -> String { "\(prefix):consumer:\(consumer)" }
    /// Pattern matching every heartbeat key.
    public var heartbeatPattern: String { "\(prefix):consumer:*" }
}
