/// The Redis key names of Docs/architecture.md, under a configurable prefix (default `telemetry`).
public struct RedisKeys: Sendable, Hashable {
    /// The first component of every key (`redis.key_prefix`, `telemetry` by default).
    public let prefix: String
    /// Redis Cluster (`redis.cluster_nodes`): the keys of shard n carry the hash tag `{s<n>}`, and
    /// the compatibility list, the processing lists and the consumers' heartbeats share
    /// `{<prefix>:tasks}`, so each shard and each atomic move lives in one slot.
    public let hashTags: Bool

    /// The key names under `prefix`, with the cluster's hash tags when `hashTags`.
    public init(prefix: String = "telemetry", hashTags: Bool = false) {
        self.prefix = prefix
        self.hashTags = hashTags
    }

    /// The part of a shard's keys after `stream:` / `lease:`: `<n>`, or `{s<n>}` in a cluster.
    private func shardPart(_ shard: Int) -> String { hashTags ? "{s\(shard)}" : String(shard) }

    /// `telemetry:stream:<n>` (`telemetry:stream:{s<n>}` in a cluster).
    public func stream(_ shard: Int) -> String { "\(prefix):stream:\(shardPart(shard))" }
    /// The shard of a key made by ``stream(_:)``; nil for any other key.
    public func shard(ofStream key: String) -> Int? {
        let head = "\(prefix):stream:"
        guard key.hasPrefix(head) else { return nil }
        var rest = Substring(key.dropFirst(head.count))
        if hashTags {
            guard rest.hasPrefix("{s"), rest.hasSuffix("}") else { return nil }
            rest = rest.dropFirst(2).dropLast()
        }
        guard !rest.isEmpty, rest.allSatisfy({ $0.isASCII && $0.isNumber }), let shard = Int(rest), stream(shard) == key else { return nil }
        return shard
    }
    /// `telemetry:lease:<n>` (`telemetry:lease:{s<n>}` in a cluster).
    public func lease(_ shard: Int) -> String { "\(prefix):lease:\(shardPart(shard))" }
    /// `telemetry:tasks`, or `{telemetry:tasks}` in a cluster: the head of the compatibility keys.
    private var tasksHead: String { hashTags ? "{\(prefix):tasks}" : "\(prefix):tasks" }
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
    /// `telemetry:tasks` (compatibility ingress; `{telemetry:tasks}` in a cluster).
    public var tasks: String { tasksHead }
    /// `telemetry:tasks:processing:<consumer>` (`{telemetry:tasks}:processing:<consumer>` in a cluster).
    public func processing(_ consumer: String) -> String { "\(tasksHead):processing:\(consumer)" }
    /// Pattern matching every processing list.
    public var processingPattern: String { "\(tasksHead):processing:*" }
    /// `telemetry:consumer:<consumer>` (heartbeat with a TTL; `{telemetry:tasks}:consumer:<consumer>`
    /// in a cluster, beside the processing list it guards).
    public func heartbeat(_ consumer: String) -> String { hashTags ? "\(tasksHead):consumer:\(consumer)" : "\(prefix):consumer:\(consumer)" }
    /// Pattern matching every heartbeat key.
    public var heartbeatPattern: String { hashTags ? "\(tasksHead):consumer:*" : "\(prefix):consumer:*" }
}
