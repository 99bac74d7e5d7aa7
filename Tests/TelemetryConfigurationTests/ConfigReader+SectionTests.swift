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
