public import TelemetryCore

extension RedisCommand {
    /// The `XADD` of `letter` to `keys.deadLetters` (capped near a million entries).
    public static func deadLetter(keys: RedisKeys, _ letter: DeadLetter) -> RedisCommand {
        var command: RedisCommand = ["XADD", keys.deadLetters, "MAXLEN", "~", "1000000", "*"]
        for (name, value) in letter.fields {
            command.append(name)
            command.append(bytes: value)
        }
        return command
    }

    /// The `XADD` of a dead letter of `error` (its payload cut to ``DeadLetter/maxPayloadBytes``).
    public static func deadLetter(keys: RedisKeys, error: TelemetryError, attempts: Int, firstFailureMillis: Int64,
                                  lastFailureMillis: Int64, source: String, sourceID: String, payload: [UInt8]) -> RedisCommand {
        deadLetter(keys: keys, DeadLetter(error: error, attempts: attempts, firstFailureMillis: firstFailureMillis,
                                          lastFailureMillis: lastFailureMillis, source: source, sourceID: sourceID, payload: payload))
    }

    /// The `XADD` of `entry` to the stream `key`.
    public static func streamEntry(key: String, _ entry: StreamEntry) -> RedisCommand {
        var command: RedisCommand = ["XADD", key, "*"]
        for (name, value) in entry.fields {
            command.append(name)
            command.append(bytes: value)
        }
        return command
    }
}
