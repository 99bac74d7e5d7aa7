public import TelemetryCore

extension RedisCommand {
    /// Largest payload kept in a dead letter (1 MiB): a flood of huge inputs cannot exhaust Redis.
    public static let maxDeadLetterPayloadBytes = 1 << 20

    /// The `XADD` of one dead letter to `keys.deadLetters`, with the fields of DESIGN.md §4; the
    /// payload is kept up to ``maxDeadLetterPayloadBytes`` (its full size is then recorded).
    public static func deadLetter(keys: RedisKeys, error: TelemetryError, attempts: Int, firstFailureMillis: Int64,
                                  lastFailureMillis: Int64, source: String, sourceID: String, payload: [UInt8]) -> RedisCommand {
        var command: RedisCommand = ["XADD", keys.deadLetters, "MAXLEN", "~", "1000000", "*",
                                     "reason", error.code.description, "message", error.message,
                                     "attempts", String(attempts), "first_failure_ms", String(firstFailureMillis),
                                     "last_failure_ms", String(lastFailureMillis), "source", source, "source_id", sourceID]
        command.append("payload")
        command.append(bytes: payload.count > maxDeadLetterPayloadBytes ? Array(payload.prefix(maxDeadLetterPayloadBytes)) : payload)
        if payload.count > maxDeadLetterPayloadBytes {
            command.append("payload_truncated_from")
            command.append(String(payload.count))
        }
        return command
    }
}
