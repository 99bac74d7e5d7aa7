public import Configuration
public import Redis
public import TelemetryCore
import Foundation

/// Where Redis is and how the project's keys are named (section `redis`), read the same way by
/// the hub, the processor and `telemetryctl`.
///
/// Keys (environment name in brackets), defaults: `host` (`REDIS_HOST`) 127.0.0.1, `port`
/// (`REDIS_PORT`) 6379, `key_prefix` (`REDIS_KEY_PREFIX`) telemetry, `username` (`REDIS_USERNAME`)
/// none (an ACL user), `password` (`REDIS_PASSWORD`) or `password_file` (a file holding it, such
/// as a systemd credential) none: sent with `AUTH` on every connection; `sentinels`
/// (`REDIS_SENTINELS`, `host:port` each) and `master_name` (`REDIS_MASTER_NAME`) mymaster: when
/// Sentinels are listed, they name the master and `host`/`port` are not used;
/// `sentinel_username`, `sentinel_password` or `sentinel_password_file`: the Sentinels' own
/// credentials; `cluster_nodes`
/// (`REDIS_CLUSTER_NODES`, `host:port` each): a Redis Cluster found through these nodes, whose
/// keys carry hash tags (``RedisKeys/hashTags``) (Docs/high-availability.md).
public struct RedisConfiguration: Sendable, Equatable {
    /// The server to connect to; its timeout is the connection's default (5 s).
    public var endpoint: RedisEndpoint
    /// Every key name, under `key_prefix`.
    public var keys: RedisKeys

    /// Reads the section from a reader scoped to `redis` (see ``ConfigReader/section(_:_:)``).
    public init(reader config: ConfigReader) throws(ConfigurationError) {
        let (username, password) = try Self.credentials(config, "")
        var sentinels: [HostPort] = []
        for text in try config.strictStringArray("sentinels", default: []) {
            guard let sentinel = HostPort(parsing: text) else {
                throw ConfigurationError(key: "sentinels", "\"\(text)\" is not host:port")
            }
            sentinels.append(sentinel)
        }
        var clusterNodes: [HostPort] = []
        for text in try config.strictStringArray("cluster_nodes", default: []) {
            guard let node = HostPort(parsing: text) else {
                throw ConfigurationError(key: "cluster_nodes", "\"\(text)\" is not host:port")
            }
            clusterNodes.append(node)
        }
        // Read (and their file opened) only with Sentinels to ask.
        let (sentinelUsername, sentinelPassword) = try Self.credentials(config, "sentinel_", used: !sentinels.isEmpty)
        guard sentinels.isEmpty || clusterNodes.isEmpty else {
            throw ConfigurationError(key: "cluster_nodes", "a Redis Cluster is not found through Sentinels: set redis.sentinels or redis.cluster_nodes, not both")
        }
        let masterName = try config.strictString("master_name", default: "mymaster")
        guard !masterName.isEmpty, !masterName.contains(" ") else {
            throw ConfigurationError(key: "master_name", "must be a master name of the Sentinels' configuration (no spaces)")
        }
        endpoint = RedisEndpoint(
            host: try config.strictString("host", default: "127.0.0.1"),
            port: try config.strictInt("port", default: 6379, in: 1...65535),
            username: username.isEmpty ? nil : username, password: password.isEmpty ? nil : password,
            sentinel: sentinels.isEmpty ? nil : SentinelSettings(sentinels: sentinels, masterName: masterName,
                                                                 username: sentinelUsername.isEmpty ? nil : sentinelUsername,
                                                                 password: sentinelPassword.isEmpty ? nil : sentinelPassword),
            cluster: clusterNodes.isEmpty ? nil : ClusterSettings(seeds: clusterNodes))
        let prefix = try config.strictString("key_prefix", default: "telemetry")
        guard clusterNodes.isEmpty || !prefix.contains(where: { $0 == "{" || $0 == "}" }) else {
            throw ConfigurationError(key: "key_prefix", "must not hold { or } with redis.cluster_nodes: a hash tag in the prefix would put every shard in one slot")
        }
        keys = RedisKeys(prefix: prefix, hashTags: !clusterNodes.isEmpty)
    }

    /// `<prefix>username`, `<prefix>password` and `<prefix>password_file` (the file wins, its
    /// line end dropped); empty strings for none, or when not `used` (the keys are still
    /// read, so they are known, but neither checked nor their file opened).
    private static func credentials(_ config: ConfigReader, _ prefix: String, used: Bool = true) throws(ConfigurationError) -> (String, String) {
        let username = try config.strictString("\(prefix)username", default: "")
        var password = try config.strictString("\(prefix)password", default: "")
        let file = try config.strictString("\(prefix)password_file", default: "")
        guard used else { return ("", "") }
        if !file.isEmpty {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw ConfigurationError(key: "\(prefix)password_file", "cannot read \(file)")
            }
            password = text.trimmingCharacters(in: .newlines)
            guard !password.isEmpty else { throw ConfigurationError(key: "\(prefix)password_file", "\(file) is empty") }
        }
        guard username.isEmpty || !password.isEmpty else {
            throw ConfigurationError(key: "\(prefix)username", "an ACL user needs its password (redis.\(prefix)password or redis.\(prefix)password_file)")
        }
        return (username, password)
    }
}
