import Foundation
import Redis
import Testing

/// A Redis that requires authentication (`requirepass` and an ACL user): the daemons and
/// telemetryctl work with the credentials and say what is missing without them.
@Suite("Redis authentication")
struct RedisAuthTests {
    static let defaultPassword = "default-password-0123"
    static let userPassword = "ingest-password-0123"

    @Test("with an ACL user's credentials the hub, the processor and telemetryctl work; without them, or with a wrong password, each says which keys to set")
    func credentials() async throws {
        let redis = try RedisServer(arguments: ["--requirepass", Self.defaultPassword,
                                                "--user", "telemetry", "on", ">\(Self.userPassword)", "~*", "&*", "+@all"],
                                    password: Self.defaultPassword)
        let deployment = try Deployment()
        let credentials = ["REDIS_PORT": String(redis.port), "REDIS_USERNAME": "telemetry", "REDIS_PASSWORD": Self.userPassword]
        let processor = try Daemon("telemetry-processor", name: "auth-processor", environment: deployment.processorEnvironment(extra: credentials))
        let hub = try Daemon("telemetry-hub", name: "auth-hub",
                             environment: deployment.hubEnvironment(sensors: 2, readings: 10, rate: 50, extra: credentials))
        try await deployment.database.expectStoredOnce(2 * 10 * 3, "\(hub.tail)\n\(processor.tail)")
        let options = ["--redis-port", String(redis.port), "--key-prefix", deployment.prefix]
        let (status, output) = try await runTool("telemetryctl", ["queues"] + options, environment: credentials)
        #expect(status == 0, "\(output)")
        #expect(await hub.stop() == 0)
        #expect(await processor.stop() == 0)

        // No password: a clear refusal naming the keys, from telemetryctl and from a daemon.
        let (missingStatus, missing) = try await runTool("telemetryctl", ["queues"] + options,
                                                          environment: ["REDIS_PORT": String(redis.port), "REDIS_USERNAME": "", "REDIS_PASSWORD": ""])
        #expect(missingStatus != 0 && missing.contains("requires authentication") && missing.contains("redis.password"), "\(missing)")
        let (wrongStatus, wrong) = try await runTool("telemetryctl", ["queues"] + options,
                                                      environment: ["REDIS_PORT": String(redis.port), "REDIS_USERNAME": "telemetry", "REDIS_PASSWORD": "not-the-password"])
        #expect(wrongStatus != 0 && wrong.contains("refused the credentials of user telemetry"), "\(wrong)")
        let anonymous = try Daemon("telemetry-processor", name: "auth-processor-anonymous",
                                   environment: deployment.processorEnvironment(extra: ["REDIS_PORT": String(redis.port)]))
        #expect(try await eventually(timeout: .seconds(20)) { anonymous.tail.contains("requires authentication") }, "\(anonymous.tail)")
        #expect(await anonymous.stop() == 0)
        let anonymousHub = try Daemon("telemetry-hub", name: "auth-hub-anonymous",
                                      environment: deployment.hubEnvironment(sensors: 1, readings: 1, rate: 1, extra: ["REDIS_PORT": String(redis.port),
                                                                                                          "SIMULATED_ENABLED": "false"]))
        #expect(try await eventually(timeout: .seconds(20)) { anonymousHub.tail.contains("requires authentication") && anonymousHub.tail.contains("redis.password") },
                "\(anonymousHub.tail)")
        #expect(await anonymousHub.stop() == 0)

        // requirepass alone: the default user, with the password and no user name.
        let (defaultStatus, defaultOutput) = try await runTool("telemetryctl", ["queues"] + options,
                                                                environment: ["REDIS_PORT": String(redis.port), "REDIS_USERNAME": "", "REDIS_PASSWORD": Self.defaultPassword])
        #expect(defaultStatus == 0, "\(defaultOutput)")
        let defaultHub = try Daemon("telemetry-hub", name: "auth-hub-default", environment: deployment.hubEnvironment(
            sensors: 1, readings: 5, rate: 50, extra: ["REDIS_PORT": String(redis.port), "REDIS_PASSWORD": Self.defaultPassword]))
        let defaultProcessor = try Daemon("telemetry-processor", name: "auth-processor-default", environment: deployment.processorEnvironment(
            extra: ["REDIS_PORT": String(redis.port), "REDIS_PASSWORD": Self.defaultPassword]))
        try await deployment.database.expectStoredOnce(2 * 10 * 3 + 5 * 3, "\(defaultHub.tail)\n\(defaultProcessor.tail)")
        #expect(await defaultHub.stop() == 0)
        #expect(await defaultProcessor.stop() == 0)
        await redis.stop()
    }

    @Test("Sentinels with requirepass: the daemons and telemetryctl find the master with redis.sentinel_password; without it, a message naming that key")
    func sentinelCredentials() async throws {
        let sentinelPassword = "sentinel-password-0123"
        let redis = try await onThread { try SentinelServers(sentinelPassword: sentinelPassword) }
        let deployment = try Deployment()
        let credentials = redis.environment.merging(["REDIS_SENTINEL_PASSWORD": sentinelPassword]) { $1 }
        let processor = try Daemon("telemetry-processor", name: "sentinel-auth-processor", environment: deployment.processorEnvironment(extra: credentials))
        let hub = try Daemon("telemetry-hub", name: "sentinel-auth-hub",
                             environment: deployment.hubEnvironment(sensors: 2, readings: 10, rate: 50, extra: credentials))
        try await deployment.database.expectStoredOnce(2 * 10 * 3, "\(hub.tail)\n\(processor.tail)")
        let options = ["--key-prefix", deployment.prefix]
        let (status, output) = try await runTool("telemetryctl", ["queues"] + options, environment: credentials)
        #expect(status == 0, "\(output)")
        let (refusedStatus, refused) = try await runTool("telemetryctl", ["queues"] + options, environment: redis.environment)
        #expect(refusedStatus != 0 && refused.contains("requires authentication") && refused.contains("redis.sentinel_password"), "\(refused)")
        #expect(await hub.stop() == 0)
        #expect(await processor.stop() == 0)
    }
}
