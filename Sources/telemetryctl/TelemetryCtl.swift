import ArgumentParser
import Foundation
import Redis
import TelemetryCore

/// telemetryctl: operator commands for the telemetry pipeline.
@main
struct TelemetryCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "telemetryctl",
        abstract: "Inspect and operate the telemetry pipeline.",
        subcommands: [Status.self, Queues.self, DeadLetters.self])
}

struct RedisOptions: ParsableArguments {
    @Option(help: "Redis host (default: $REDIS_HOST or 127.0.0.1).")
    var redisHost: String = ProcessInfo.processInfo.environment["REDIS_HOST"] ?? "127.0.0.1"
    @Option(help: "Redis port (default: $REDIS_PORT or 6379).")
    var redisPort: Int = Int(ProcessInfo.processInfo.environment["REDIS_PORT"] ?? "") ?? 6379
    @Option(help: "Key prefix (default: $REDIS_KEY_PREFIX or telemetry).")
    var keyPrefix: String = ProcessInfo.processInfo.environment["REDIS_KEY_PREFIX"] ?? "telemetry"
    @Option(help: "Number of shard streams.")
    var shards: Int = Int(ProcessInfo.processInfo.environment["STREAMS_SHARDS"] ?? "") ?? 8
    @Option(help: "Consumer group.")
    var group: String = "processors"

    var keys: RedisKeys { RedisKeys(prefix: keyPrefix) }

    func client() -> RedisClient {
        RedisClient(endpoint: RedisEndpoint(host: redisHost, port: redisPort), name: "ctl")
    }
}

/// Pipeline state as seen in Redis: stream lengths, consumer-group lag and pending entries,
/// compatibility queue and dead letters.
struct Queues: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show stream lengths, lag, pending entries and dead letters, read from Redis.")

    @OptionGroup var redis: RedisOptions
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let state: QueueState
        do {
            state = try await redis.client().queueState(keys: redis.keys, shards: redis.shards, group: redis.group)
        } catch {
            throw ValidationError("cannot reach redis at \(redis.redisHost):\(redis.redisPort): \(error)")
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
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
            print(String(decoding: data, as: UTF8.self))
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
