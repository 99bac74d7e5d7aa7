import Logging
public import Redis
public import TelemetryCore

/// Writes dead letters to `telemetry:dlq` with the fields of DESIGN.md §4 and counts them.
public struct DeadLetterWriter: Sendable {
    let redis: RedisClient
    let keys: RedisKeys
    let counters: ProcessorCounters
    let logger: Logger
    /// Largest payload kept in a dead letter (1 MiB).
    public static let maxPayloadBytes = 1 << 20

    public init(redis: RedisClient, keys: RedisKeys, counters: ProcessorCounters, logger: Logger) {
        self.redis = redis
        self.keys = keys
        self.counters = counters
        self.logger = logger
    }

    /// Appends one dead letter; retries through a Redis outage until it is written.
    public func write(error: TelemetryError, attempts: Int, firstFailureMillis: Int64, source: String, sourceID: String?, payload: [UInt8]) async {
        let now = wallClockMicros() / 1000
        var command: RedisCommand = ["XADD", keys.deadLetters, "MAXLEN", "~", "1000000", "*",
                                     "reason", error.code.description, "message", error.message,
                                     "attempts", String(attempts), "first_failure_ms", String(firstFailureMillis),
                                     "last_failure_ms", String(now), "source", source, "source_id", sourceID ?? ""]
        command.append("payload")
        // The original payload is kept up to a cap, so a flood of huge inputs cannot exhaust Redis.
        command.append(bytes: payload.count > Self.maxPayloadBytes ? Array(payload.prefix(Self.maxPayloadBytes)) : payload)
        if payload.count > Self.maxPayloadBytes {
            command.append("payload_truncated_from")
            command.append(String(payload.count))
        }
        _ = await redis.sendRetrying(command) { error, _ in
            logger.warning("cannot write dead letter, retrying", metadata: ["error": "\(error)"])
        }
        counters.countDeadLetter(reason: error.code)
        logger.warning("dead-lettered", metadata: ["reason": "\(error.code)", "message": "\(error.message)",
                                                    "source": "\(source)", "source_id": "\(sourceID ?? "")"])
    }
}
