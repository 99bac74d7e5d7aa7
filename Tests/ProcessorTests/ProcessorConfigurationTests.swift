import Configuration
import Processor
import TelemetryConfiguration
import Testing

@Suite("Processor configuration")
struct ProcessorConfigurationTests {
    @Test("defaults hold with no configuration")
    func defaults() throws {
        let configuration = try ProcessorConfiguration(reader: ConfigReader(provider: InMemoryProvider(values: [:])))
        #expect(configuration.worker.count == 8)
        #expect(configuration.consumer.group == "processors")
        #expect(configuration.redis.keys.stream(3) == "telemetry:stream:3")
        #expect(configuration.thresholds["temperature"]?.high == 60)
    }

    @Test("environment names map the swift-configuration way and beat defaults")
    func environment() throws {
        let reader = ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: [
            "NUM_WORKERS": "3", "REDIS_PORT": "7000", "POSTGRES_URL": "postgresql://x@127.0.0.1/db", "THRESHOLDS_TEMPERATURE_HIGH": "45.5",
        ]))
        let configuration = try ProcessorConfiguration(reader: reader)
        #expect(configuration.worker.count == 3)
        #expect(configuration.redis.endpoint.port == 7000)
        #expect(configuration.storage.url == "postgresql://x@127.0.0.1/db")
        #expect(configuration.thresholds["temperature"]?.high == 45.5)
    }

    @Test("an invalid value stops start-up with a message naming the key", arguments: [
        ("NUM_WORKERS", "many", "num_workers"),
        ("NUM_WORKERS", "0", "num_workers"),
        ("REDIS_PORT", "70000", "redis.port"),
        ("CONSUMER_BLOCK_MS", "5000", "consumer.block_ms"),
    ])
    func invalid(name: String, value: String, key: String) {
        let reader = ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: [name: value]))
        #expect {
            _ = try ProcessorConfiguration(reader: reader)
        } throws: { error in
            guard let error = error as? ConfigurationError else { return false }
            return error.key == key && error.description.contains(key)
        }
    }
}
