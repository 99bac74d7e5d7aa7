import Configuration
import TelemetryConfiguration
import Testing

@Suite("Configuration key catalog")
struct ConfigKeyCatalogTests {
    @Test("recording names each key read with its full path through nested sections, its value, default and what it expects")
    func recording() throws {
        let reader = ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: ["SPOOL_MAX_BYTES": "8192"]))
        let (_, keys) = try ConfigKeyCatalog.recording {
            _ = try reader.section("spool") { spool throws(ConfigurationError) in
                (try spool.strictInt("max_bytes", default: 4096, in: 4096...(1 << 40)), try spool.strictBool("fsync", default: true))
            }
            _ = try reader.section("buses.line") { bus throws(ConfigurationError) in
                try bus.section("point.flow") { point throws(ConfigurationError) in try point.strictString("table", default: "holding", choices: ["holding", "input"]) }
            }
            _ = try reader.strictStringArray("buses.names", default: [])
        }
        #expect(keys.map(\.key) == ["buses.line.point.flow.table", "buses.names", "spool.fsync", "spool.max_bytes"])
        let maxBytes = try #require(keys.first { $0.key == "spool.max_bytes" })
        #expect(maxBytes.value == "8192" && maxBytes.defaultValue == "4096")
        #expect(maxBytes.environmentName == "SPOOL_MAX_BYTES" && maxBytes.flag == "--spool-max_bytes")
        #expect(maxBytes.expected.hasPrefix("an integer in 4096…"))
        #expect(keys.first { $0.key == "buses.line.point.flow.table" }?.expected == "one of holding, input")
        // Nothing is recorded outside a recording.
        #expect(throws: Never.self) { _ = try reader.strictInt("spool.max_bytes", default: 1) }
    }

    @Test("a YAML file's keys are the dotted paths to its values; unknown ones come with the nearest known key")
    func unknownKeys() throws {
        let keys = try ConfigKeyCatalog.keys(inYAML: "redis: {host: a, port: 1}\nbuses:\n  names: [x, y]\nspool:\n  max_byts: 3\nextra: 1\n")
        #expect(keys == ["buses.names", "extra", "redis.host", "redis.port", "spool.max_byts"])
        let known = ["redis.host", "redis.port", "buses.names", "spool.max_bytes", "spool.fsync"].map {
            ConfigKeyInfo(key: $0, value: "", defaultValue: "", expected: "")
        }
        let unknown = ConfigKeyCatalog.unknownKeys(in: keys, known: known)
        #expect(unknown.map(\.key) == ["extra", "spool.max_byts"])
        #expect(unknown.last?.suggestion == "spool.max_bytes")
        #expect(unknown.first?.suggestion == nil, "nothing near enough to be a typo")
        #expect(throws: (any Error).self) { try ConfigKeyCatalog.keys(inYAML: "a: [unclosed\n") }
        #expect(try ConfigKeyCatalog.keys(inYAML: "") == [])
    }

    @Test("secrets are told by name")
    func secrets() {
        #expect(ConfigKeyInfo(key: "http.ingest.token", value: "", defaultValue: "", expected: "").isSecret)
        #expect(ConfigKeyInfo(key: "postgres.url", value: "", defaultValue: "", expected: "").isSecret)
        #expect(!ConfigKeyInfo(key: "http.ingest.token_file", value: "", defaultValue: "", expected: "").isSecret)
        #expect(!ConfigKeyInfo(key: "redis.port", value: "", defaultValue: "", expected: "").isSecret)
    }

    /// Found by review: a section whose children are all commented out is a YAML null, and was
    /// refused as an unknown key although it sets nothing.
    @Test("a null (an empty section, ~, null) sets no key; a quoted empty string does")
    func nulls() throws {
        #expect(try ConfigKeyCatalog.keys(inYAML: "buses:\n  # names: [a]\nmetrics: ~\nsimulated: null\n") == [])
        #expect(try ConfigKeyCatalog.keys(inYAML: "http:\n  ingest:\n    token: \"\"\n") == ["http.ingest.token"])
    }
}
