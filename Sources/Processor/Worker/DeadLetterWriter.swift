import Logging
import Redis
import TelemetryCore

/// Writes dead letters to `telemetry:dlq` with the fields of Docs/architecture.md and counts them.
package struct DeadLetterWriter: Sendable {
    let redis: RedisClient
    let keys: RedisKeys
    let counters: ProcessorCounters
    let logger: Logger
    package init(redis: RedisClient, keys: RedisKeys, counters: ProcessorCounters, logger: Logger) {
        self.redis = redis
        self.keys = keys
        self.counters = counters
        self.logger = logger
    }

    /// Appends one dead letter; retries through a Redis outage until it is written.
    package func write(error: TelemetryError, attempts: Int, firstFailureMillis: Int64, source: String, sourceID: String?, payload: [UInt8]) async {
        let command = RedisCommand.deadLetter(keys: keys, error: error, attempts: attempts, firstFailureMillis: firstFailureMillis,
                                              lastFailureMillis: wallClockMicros() / 1000, source: source, sourceID: sourceID ?? "",
                                              payload: payload)
        _ = await redis.sendRetrying(command) { error, _ in
            logger.warning("cannot write dead letter, retrying", metadata: ["error": "\(error)"])
        }
        counters.countDeadLetter(reason: error.code)
        logger.warning("dead-lettered", metadata: ["reason": "\(error.code)", "message": "\(error.message)",
                                                    "source": "\(source)", "source_id": "\(sourceID ?? "")"])
    }
}
