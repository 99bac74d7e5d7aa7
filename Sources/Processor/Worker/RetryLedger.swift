import Logging
import Redis
import TelemetryCore

/// Where a failing item's retry state lives: the Redis hash `telemetry:retries`, so a restarted
/// processor neither forgets how many attempts an item had nor retries it before its time.
package struct RetryLedger: Sendable {
    /// Failed attempts so far, when the first failed, when the next attempt is due (epoch ms).
    package struct State: Sendable, Equatable {
        package var failures = 0
        package var firstFailureMillis: Int64 = 0
        package var nextAttemptMillis: Int64 = 0

        package init(failures: Int = 0, firstFailureMillis: Int64 = 0, nextAttemptMillis: Int64 = 0) {
            self.failures = failures
            self.firstFailureMillis = firstFailureMillis
            self.nextAttemptMillis = nextAttemptMillis
        }
    }

    let redis: RedisClient
    let key: String
    let logger: Logger

    package init(redis: RedisClient, keys: RedisKeys, logger: Logger) {
        self.redis = redis
        self.key = keys.retries
        self.logger = logger
    }

    /// The recorded state of `item`, or a fresh one.
    package func load(_ item: String) async -> State {
        let reply = await untilDone(["HGET", key, item])
        let parts = (reply.string ?? "").split(separator: ":").compactMap { Int64($0) }
        guard parts.count == 3 else { return State() }
        return State(failures: Int(parts[0]), firstFailureMillis: parts[1], nextAttemptMillis: parts[2])
    }

    package func save(_ item: String, _ state: State) async {
        _ = await untilDone(["HSET", key, item, "\(state.failures):\(state.firstFailureMillis):\(state.nextAttemptMillis)"])
    }

    package func clear(_ item: String) async {
        _ = await untilDone(["HDEL", key, item])
    }

    /// Retries through a Redis outage: losing retry state would break the guarantee.
    private func untilDone(_ command: RedisCommand) async -> RESPValue {
        await redis.sendRetrying(command) { error, _ in
            logger.warning("retry ledger unavailable, waiting", metadata: ["error": "\(error)"])
        }
    }
}
