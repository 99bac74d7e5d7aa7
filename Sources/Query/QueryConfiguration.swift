public import Configuration
import Foundation
import Redis
public import Supervision
public import TelemetryConfiguration

/// One replica (`postgres.replica.<name>.*`).
public struct ReplicaConfiguration: Sendable, Equatable {
    /// Its name (in `postgres.replicas`).
    public var name: String
    /// `url`: a libpq connection string or URL (required).
    public var url: String
    /// `role`: `read` (eventual and session reads) or `analytics` (long queries), default `read`.
    public var role: ReplicaRole
    /// `statement_timeout_ms`: default `read.statement_timeout_ms` for a read replica, 300 000 for
    /// an analytics one.
    public var statementTimeoutMillis: Int
    /// `connections`: default `read.connections`.
    public var connections: Int
}

/// What `telemetry-query` reads at start (Docs/configuration.md, section telemetry-query):
/// - `postgres.url` (`POSTGRES_URL`), default empty: libpq's `PG*` variables — the primary
/// - `postgres.replicas` [] and `postgres.replica.<name>.url|role|statement_timeout_ms|connections`
/// - `read.max_lag_s` 5, `read.max_failures` 5, `read.open_s` 60, `read.probe_ms` 500 (≤ 1000):
///   the replica breakers
/// - `read.connections` 4 per node, `read.statement_timeout_ms` 10 000, `read.queue_timeout_ms`
///   2000 (a read waiting longer for a connection is answered 503), `read.primary_fallback_concurrency`
///   2 (eventual reads on the primary at once when no read replica is healthy)
/// - `read.session_wait_ms` 5000 (default `wait_ms`), `read.max_session_wait_ms` 30 000
/// - `series.max_points` 10 000, `list.max_limit` 10 000
/// - `cache.enabled` true, `cache.ttl_s` 120; `redis.*` as for the other daemons
/// - `http.query.token` / `http.query.token_file`: bearer token of the read API;
///   `http.query.allow_unauthenticated` false (without a token the API is served on loopback only)
/// - `shutdown.timeout_s` 10, `supervisor.*`
public struct QueryConfiguration: Sendable {
    /// The primary's connection string (`postgres.url`).
    public var primaryURL: String
    /// The replicas, in configured order.
    public var replicas: [ReplicaConfiguration]
    /// The replica breakers' settings.
    public var breaker: ReplicaBreaker.Settings
    /// `read.probe_ms`.
    public var probeMillis: Int
    /// `read.connections`: connections per node (primary and each replica by default).
    public var connections: Int
    /// `read.statement_timeout_ms`.
    public var statementTimeoutMillis: Int
    /// `read.queue_timeout_ms`.
    public var queueTimeoutMillis: Int
    /// `read.primary_fallback_concurrency`.
    public var primaryFallbackConcurrency: Int
    /// `read.session_wait_ms`: the default `wait_ms`.
    public var sessionWaitMillis: Int
    /// `read.max_session_wait_ms`: the largest `wait_ms`.
    public var maxSessionWaitMillis: Int
    /// `series.max_points`.
    public var maxPoints: Int
    /// `list.max_limit`: most devices or alerts one answer lists.
    public var maxListLimit: Int
    /// `cache.enabled`.
    public var cacheEnabled: Bool
    /// `cache.ttl_s`, in ms.
    public var cacheTTLMillis: Int64
    /// Section `redis` (the cache).
    public var redis: RedisConfiguration
    /// `http.query.token` or `http.query.token_file`.
    public var token: String?
    /// Section `tenants`: the tenants and their query tokens (`token` is the default tenant's).
    public var tenants: TenantDirectory
    /// `http.query.allow_unauthenticated`: serve the read API without a token on a non-loopback `http.host`.
    public var allowUnauthenticated: Bool
    /// `shutdown.timeout_s`.
    public var shutdownTimeoutSeconds: Int
    /// Section `supervisor`.
    public var restartPolicy: RestartPolicy

    /// `conninfo`, refused when it sets `options`: the daemon sets them itself (the statement
    /// timeout and read-only transactions), and a configured value would silently drop both.
    static func withoutOptions(_ conninfo: String, key: String) throws(ConfigurationError) -> String {
        guard !conninfo.contains("options=") else {
            throw ConfigurationError(key: key, "sets options; telemetry-query sets them itself (statement_timeout, read-only transactions): "
                                     + "remove options, use read.statement_timeout_ms or postgres.replica.<name>.statement_timeout_ms")
        }
        return conninfo
    }

    /// Reads everything above from `config`.
    public init(reader config: ConfigReader) throws(ConfigurationError) {
        primaryURL = try Self.withoutOptions(try config.strictString("postgres.url", default: ""), key: "postgres.url")
        connections = try config.strictInt("read.connections", default: 4, in: 1...64)
        statementTimeoutMillis = try config.strictInt("read.statement_timeout_ms", default: 10_000, in: 100...86_400_000)
        let names = try config.strictStringArray("postgres.replicas", default: [])
        var seen = Set<String>()
        var replicas: [ReplicaConfiguration] = []
        for name in names {
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }), name != "url" else {
                throw ConfigurationError(key: "postgres.replicas", "\"\(name)\" is not a usable replica name (letters, digits, _ and -)")
            }
            guard seen.insert(name).inserted else { throw ConfigurationError(key: "postgres.replicas", "\"\(name)\" appears twice") }
            let defaults = (statementTimeoutMillis, connections)
            replicas.append(try config.section("postgres.replica.\(name)") { reader throws(ConfigurationError) in
                guard let url = reader.string(forKey: ConfigKey("url")), !url.isEmpty else {
                    throw ConfigurationError(key: "url", "is required: the replica's libpq connection string or URL")
                }
                _ = try Self.withoutOptions(try reader.strictString("url", default: ""), key: "url")
                let role = ReplicaRole(rawValue: try reader.strictString("role", default: "read", choices: ReplicaRole.allCases.map(\.rawValue)))!
                return ReplicaConfiguration(
                    name: name, url: url, role: role,
                    statementTimeoutMillis: try reader.strictInt("statement_timeout_ms", default: role == .analytics ? 300_000 : defaults.0,
                                                                 in: 100...86_400_000),
                    connections: try reader.strictInt("connections", default: defaults.1, in: 1...64))
            })
        }
        self.replicas = replicas
        let maxLag = try config.strictDouble("read.max_lag_s", default: 5, in: 0.001...86_400)
        breaker = ReplicaBreaker.Settings(maxLagSeconds: maxLag,
                                          maxFailures: try config.strictInt("read.max_failures", default: 5, in: 1...1000),
                                          openSeconds: try config.strictDouble("read.open_s", default: 60, in: 0...86_400))
        probeMillis = try config.strictInt("read.probe_ms", default: 500, in: 50...1000)
        queueTimeoutMillis = try config.strictInt("read.queue_timeout_ms", default: 2000, in: 1...60_000)
        primaryFallbackConcurrency = try config.strictInt("read.primary_fallback_concurrency", default: 2, in: 1...64)
        maxSessionWaitMillis = try config.strictInt("read.max_session_wait_ms", default: 30_000, in: 0...300_000)
        sessionWaitMillis = min(try config.strictInt("read.session_wait_ms", default: 5000, in: 0...300_000), maxSessionWaitMillis)
        maxPoints = try config.strictInt("series.max_points", default: 10_000, in: 1...1_000_000)
        maxListLimit = try config.strictInt("list.max_limit", default: 10_000, in: 1...1_000_000)
        cacheEnabled = try config.strictBool("cache.enabled", default: true)
        cacheTTLMillis = Int64(try config.strictInt("cache.ttl_s", default: 120, in: 1...86_400)) * 1000
        redis = try config.section("redis", RedisConfiguration.init(reader:))
        (token, allowUnauthenticated) = try config.section("http.query") { reader throws(ConfigurationError) in
            (try BearerToken.read(reader), try reader.strictBool("allow_unauthenticated", default: false))
        }
        tenants = try TenantDirectory(reader: config, loading: .query, defaultToken: token)
        shutdownTimeoutSeconds = try config.strictInt("shutdown.timeout_s", default: 10, in: 1...3600)
        restartPolicy = try config.section("supervisor", RestartPolicy.init(reader:))
    }
}
