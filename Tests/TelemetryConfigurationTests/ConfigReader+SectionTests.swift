import Configuration
import Foundation
import Redis
import Supervision
import TelemetryConfiguration
import Testing

@Suite("Configuration sections")
struct ConfigReaderSectionTests {
    static func reader(_ values: [String: String]) -> ConfigReader {
        ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: values))
    }

    @Test("a component reads its keys relative to its section, from the same environment names as before")
    func relativeKeys() throws {
        let reader = Self.reader(["REDIS_HOST": "10.0.0.7", "REDIS_PORT": "7001", "REDIS_KEY_PREFIX": "plant", "SUPERVISOR_MAX_RESTARTS": "9"])
        let redis = try reader.section("redis", RedisConfiguration.init(reader:))
        #expect(redis.endpoint.host == "10.0.0.7")
        #expect(redis.endpoint.port == 7001)
        #expect(redis.keys.stream(2) == "plant:stream:2")
        #expect(try reader.section("supervisor", RestartPolicy.init(reader:)).maxRestarts == 9)
        let defaults = try Self.reader([:]).section("redis", RedisConfiguration.init(reader:))
        #expect(defaults.endpoint == RedisEndpoint(host: "127.0.0.1", port: 6379))
        #expect(defaults.keys.stream(0) == "telemetry:stream:0")
    }

    @Test("Redis Cluster: cluster_nodes names the seeds and turns the hash tags on; not with Sentinels; no braces in the prefix")
    func redisCluster() throws {
        let cluster = try Self.reader(["REDIS_CLUSTER_NODES": "10.0.0.1:7000,[::1]:7001", "REDIS_KEY_PREFIX": "plant"]).section("redis", RedisConfiguration.init(reader:))
        #expect(cluster.endpoint.cluster == ClusterSettings(seeds: [HostPort(host: "10.0.0.1", port: 7000), HostPort(host: "::1", port: 7001)]))
        #expect(cluster.keys.stream(3) == "plant:stream:{s3}" && cluster.keys.lease(3) == "plant:lease:{s3}")
        #expect(cluster.keys.tasks == "{plant:tasks}" && cluster.keys.processing("p1") == "{plant:tasks}:processing:p1")
        #expect(cluster.keys.heartbeat("p1") == "{plant:tasks}:consumer:p1")
        #expect(cluster.keys.shard(ofStream: "plant:stream:{s3}") == 3)
        for other in ["plant:stream:3", "plant:stream:{s}", "plant:stream:{s03}", "plant:stream:{s3}x", "plant:stream:{s-1}", "other:stream:{s3}"] {
            #expect(cluster.keys.shard(ofStream: other) == nil, "\(other)")
        }
        let plain = try Self.reader(["REDIS_KEY_PREFIX": "plant"]).section("redis", RedisConfiguration.init(reader:))
        #expect(plain.keys.shard(ofStream: "plant:stream:12") == 12 && plain.keys.shard(ofStream: "plant:stream:{s12}") == nil)
        #expect(plain.keys.tasks == "plant:tasks" && plain.keys.heartbeat("p1") == "plant:consumer:p1")
        #expect(throws: ConfigurationError.self) {
            try Self.reader(["REDIS_CLUSTER_NODES": "a:1", "REDIS_SENTINELS": "b:2"]).section("redis", RedisConfiguration.init(reader:))
        }
        #expect(throws: ConfigurationError.self) {
            try Self.reader(["REDIS_CLUSTER_NODES": "a:1", "REDIS_KEY_PREFIX": "{t}"]).section("redis", RedisConfiguration.init(reader:))
        }
        #expect(throws: ConfigurationError.self) {
            try Self.reader(["REDIS_CLUSTER_NODES": "a"]).section("redis", RedisConfiguration.init(reader:))
        }
    }

    @Test("Redis credentials: a user with its password, a password file (trimmed of its newline), a user without a password refused")
    func redisCredentials() throws {
        let acl = try Self.reader(["REDIS_USERNAME": "ingest", "REDIS_PASSWORD": "p@ss word"]).section("redis", RedisConfiguration.init(reader:))
        #expect(acl.endpoint.username == "ingest" && acl.endpoint.password == "p@ss word")
        #expect(!acl.endpoint.description.contains("p@ss"))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("redis-password-\(UUID().uuidString)").path
        try "from-a-file\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let filed = try Self.reader(["REDIS_PASSWORD": "ignored", "REDIS_PASSWORD_FILE": path]).section("redis", RedisConfiguration.init(reader:))
        #expect(filed.endpoint.password == "from-a-file" && filed.endpoint.username == nil)
        #expect { try Self.reader(["REDIS_USERNAME": "ingest"]).section("redis", RedisConfiguration.init(reader:)) } throws: {
            ($0 as? ConfigurationError)?.key == "redis.username"
        }
        #expect { try Self.reader(["REDIS_PASSWORD_FILE": "/nonexistent/redis-password"]).section("redis", RedisConfiguration.init(reader:)) } throws: {
            ($0 as? ConfigurationError)?.key == "redis.password_file"
        }
    }

    @Test("Sentinel credentials: the Sentinels' own, apart from the data nodes', kept out of the description; a Sentinel user without a password refused")
    func sentinelCredentials() throws {
        let redis = try Self.reader(["REDIS_SENTINELS": "10.0.0.1:26379", "REDIS_PASSWORD": "data", "REDIS_SENTINEL_USERNAME": "watch",
                                     "REDIS_SENTINEL_PASSWORD": "s3cret"]).section("redis", RedisConfiguration.init(reader:))
        let sentinel = try #require(redis.endpoint.sentinel)
        #expect(sentinel.username == "watch" && sentinel.password == "s3cret" && redis.endpoint.password == "data" && redis.endpoint.username == nil)
        #expect(!redis.endpoint.description.contains("s3cret") && !sentinel.description.contains("s3cret"))
        let none = try #require(try Self.reader(["REDIS_SENTINELS": "10.0.0.1:26379"]).section("redis", RedisConfiguration.init(reader:)).endpoint.sentinel)
        #expect(none.username == nil && none.password == nil)
        #expect { try Self.reader(["REDIS_SENTINELS": "a:1", "REDIS_SENTINEL_USERNAME": "watch"]).section("redis", RedisConfiguration.init(reader:)) } throws: {
            ($0 as? ConfigurationError)?.key == "redis.sentinel_username"
        }
        // Without Sentinels the keys are not used: an unreadable file does not stop the daemon.
        let plain = try Self.reader(["REDIS_SENTINEL_PASSWORD_FILE": "/nonexistent/sentinel-password"]).section("redis", RedisConfiguration.init(reader:))
        #expect(plain.endpoint.sentinel == nil)
        #expect { try Self.reader(["REDIS_SENTINELS": "a:1", "REDIS_SENTINEL_PASSWORD_FILE": "/nonexistent/sentinel-password"])
            .section("redis", RedisConfiguration.init(reader:)) } throws: { ($0 as? ConfigurationError)?.key == "redis.sentinel_password_file" }
    }

    @Test("an error inside a section, or a nested one, names the full key; one about the whole section names it")
    func errorKeys() {
        #expect { try Self.reader(["REDIS_PORT": "0"]).section("redis", RedisConfiguration.init(reader:)) } throws: {
            ($0 as? ConfigurationError)?.key == "redis.port"
        }
        #expect {
            try Self.reader(["SUPERVISOR_BACKOFF_MAX_MS": "5", "SUPERVISOR_BACKOFF_INITIAL_MS": "50"]).section("supervisor", RestartPolicy.init(reader:))
        } throws: { ($0 as? ConfigurationError)?.key == "supervisor.backoff_max_ms" }
        let nested = Self.reader(["BUSES_LINE_POINT_FLOW_ADDRESS": "many"])
        #expect {
            try nested.section("buses.line") { bus throws(ConfigurationError) in
                try bus.section("point.flow") { point throws(ConfigurationError) in try point.strictInt("address", default: 0) }
            }
        } throws: { ($0 as? ConfigurationError)?.key == "buses.line.point.flow.address" }
        #expect {
            try Self.reader([:]).section("spool") { _ throws(ConfigurationError) -> Int in throw ConfigurationError(key: "", "is inconsistent") }
        } throws: { ($0 as? ConfigurationError)?.key == "spool" }
    }
}
