public import Configuration
public import Redis
public import TelemetryCore

/// Where Redis is and how the project's keys are named (section `redis`), read the same way by
/// the hub, the processor and `telemetryctl`.
///
/// Keys (environment name in brackets), defaults: `host` (`REDIS_HOST`) 127.0.0.1, `port`
/// (`REDIS_PORT`) 6379, `key_prefix` (`REDIS_KEY_PREFIX`) telemetry.
public struct RedisConfiguration: Sendable, Equatable {
    /// The server to connect to; its timeout is the connection's default (5 s).
    public var endpoint: RedisEndpoint
    /// Every key name, under `key_prefix`.
    public var keys: RedisKeys

    /// Reads the section from a reader scoped to `redis` (see ``ConfigReader/section(_:_:)``).
    public init(reader config: ConfigReader) throws(ConfigurationError) {
        endpoint = RedisEndpoint(
            host: try config.strictString("host", default: "127.0.0.1"),
            port: try config.strictInt("port", default: 6379, in: 1...65535))
        keys = RedisKeys(prefix: try config.strictString("key_prefix", default: "telemetry"))
    }
}
