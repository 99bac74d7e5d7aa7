import ArgumentParser
import Foundation
import Redis
import TelemetryConfiguration
import TelemetryCore
import TelemetryStatus

/// telemetryctl: operator commands for the telemetry pipeline. Exit status: 0 done, 1 a runtime
/// failure (one line on stderr saying what failed) or a check that found a problem, 2 an invalid
/// configuration (`config check`), 64 a usage error and nothing else.
@main
struct TelemetryCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "telemetryctl",
        abstract: "Inspect and operate the telemetry pipeline.",
        discussion: "Exit status: 0 done; 1 a runtime failure or a check that found a problem; 2 an invalid configuration (config check); 64 a usage error.",
        version: TelemetryVersion.current,
        subcommands: [Status.self, Queues.self, DeadLetters.self, Spool.self, Replay.self, Lake.self, Config.self, Version.self])

    /// Parses and runs the command; a failure while running is one line and status 1, never
    /// ArgumentParser's usage status.
    static func main() async {
        var command: any ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exit(withError: error)
        }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as ExitCode {
            exit(withError: error)
        } catch let error as CleanExit {
            exit(withError: error)
        } catch {
            let line = "\(error)".split(whereSeparator: \.isNewline).joined(separator: " ")
            FileHandle.standardError.write(Data("telemetryctl: \(line)\n".utf8))
            Foundation.exit(1)
        }
    }
}

/// `telemetryctl version`: the version of this tree (the daemons print the same with `--version`).
struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version of telemetryctl and the daemons it was built with.")

    @Flag(help: "Print one JSON document: {\"version\": \"…\"}.") var json = false

    func run() throws {
        print(json ? try CtlJSON.text(["version": TelemetryVersion.current]) : TelemetryVersion.current)
    }
}

/// Where the pipeline's Redis is, read like the daemons read it: `--config` names a daemon's
/// YAML file, the environment uses the same names (`REDIS_HOST`, `REDIS_PORT`,
/// `REDIS_KEY_PREFIX`, `STREAMS_SHARDS`, `CONSUMER_GROUP`), and the flags win over both.
struct RedisOptions: ParsableArguments {
    @Option(help: "A daemon's configuration file (YAML) to read redis.*, streams.shards and consumer.group from.")
    var config: String?
    @Option(help: "Redis host (default: redis.host, $REDIS_HOST, or 127.0.0.1).")
    var redisHost: String?
    @Option(help: "Redis port (default: redis.port, $REDIS_PORT, or 6379).")
    var redisPort: Int?
    @Option(help: "Key prefix (default: redis.key_prefix, $REDIS_KEY_PREFIX, or telemetry).")
    var keyPrefix: String?
    @Option(help: "Number of shard streams (default: streams.shards, $STREAMS_SHARDS, or 8).")
    var shards: Int?
    @Option(help: "Consumer group (default: consumer.group, $CONSUMER_GROUP, or processors).")
    var group: String?

    /// The settings in force: flags, then the configuration file and the environment, then the
    /// daemons' defaults.
    func settings() async throws -> RedisSettings {
        let reader = try await ConfigurationLoader.reader(arguments: ["telemetryctl"] + (config.map { ["--config", $0] } ?? []))
        // The daemons' own sections, so every key, environment name and default is theirs.
        let redis = try reader.section("redis", RedisConfiguration.init(reader:))
        return RedisSettings(
            host: redisHost ?? redis.endpoint.host,
            port: redisPort ?? redis.endpoint.port,
            username: redis.endpoint.username, password: redis.endpoint.password,
            // --redis-host / --redis-port name one server: the Sentinels are not asked then.
            sentinel: redisHost == nil && redisPort == nil ? redis.endpoint.sentinel : nil,
            // In a cluster, a flag names the node to find it through.
            cluster: redis.endpoint.cluster.map { cluster in
                redisHost == nil && redisPort == nil ? cluster : ClusterSettings(seeds: [HostPort(host: redisHost ?? redis.endpoint.host, port: redisPort ?? redis.endpoint.port)])
            },
            keys: keyPrefix.map { RedisKeys(prefix: $0, hashTags: redis.keys.hashTags) } ?? redis.keys,
            shards: try shards ?? reader.section("streams") { reader throws(ConfigurationError) in try reader.strictInt("shards", default: 8, in: 1...1024) },
            group: try group ?? reader.section("consumer") { reader throws(ConfigurationError) in try reader.strictString("group", default: "processors") })
    }
}

/// What ``RedisOptions`` resolved to.
struct RedisSettings {
    let host: String
    let port: Int
    /// `redis.username` / `redis.password` (`REDIS_USERNAME`, `REDIS_PASSWORD`, `redis.password_file`).
    let username: String?
    let password: String?
    /// `redis.sentinels` / `redis.master_name`, unless a flag named the server.
    let sentinel: SentinelSettings?
    /// `redis.cluster_nodes`, unless a flag named the server (one node of it: a seed then).
    let cluster: ClusterSettings?
    let keys: RedisKeys
    let shards: Int
    let group: String

    func client() -> RedisClient {
        RedisClient(endpoint: RedisEndpoint(host: host, port: port, username: username, password: password, sentinel: sentinel, cluster: cluster),
                    name: "ctl")
    }
}

/// Pipeline state as seen in Redis: stream lengths, consumer-group lag and pending entries,
/// compatibility queue and dead letters.
struct Queues: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show stream lengths, lag, pending entries and dead letters, read from Redis.")

    @OptionGroup var redis: RedisOptions
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let state = try await redis.withClient { settings, client in
            try await client.queueState(keys: settings.keys, shards: settings.shards, group: settings.group)
        }
        let shards = state.shards.enumerated().map { ["shard": $0.offset, "length": $0.element.length, "pending": $0.element.pending,
                                                      "lag": $0.element.lag ?? -1, "group": $0.element.groupExists ? 1 : 0] }
        let tasks = state.compatTasksQueued
        let deadLetters = state.deadLetters
        if json {
            // An unknown lag is null, never a false 0.
            let jsonShards = shards.map { s -> [String: Any] in
                ["shard": s["shard"]!, "length": s["length"]!, "pending": s["pending"]!, "lag": s["lag"]! < 0 ? NSNull() : s["lag"]!,
                 "group": s["group"]! == 1 ? "present" : "missing"]
            }
            let object: [String: Any] = ["shards": jsonShards, "compat_tasks_queued": tasks, "dead_letters": deadLetters]
            print(try CtlJSON.text(object, pretty: true))
        } else {
            print("SHARD  LENGTH  PENDING      LAG  GROUP")
            for s in shards {
                let lag = s["lag"]! < 0 ? "unknown" : String(s["lag"]!)
                print("\(pad(s["shard"]!, 5))  \(pad(s["length"]!, 6))  \(pad(s["pending"]!, 7))  \(String(repeating: " ", count: max(0, 7 - lag.count)))\(lag)  "
                      + (s["group"]! == 1 ? "present" : "MISSING"))
            }
            print("compat tasks queued: \(tasks)")
            print("dead letters:        \(deadLetters)")
        }
    }

    private func pad(_ v: Int, _ width: Int) -> String {
        let s = String(v)
        return String(repeating: " ", count: max(0, width - s.count)) + s
    }
}
