public import TelemetryCore

/// The pipeline's queues as Redis holds them: each shard stream's length, consumer-group lag and
/// pending entries, the compatibility task list and the dead-letter stream.
public struct QueueState: Sendable, Equatable {
    /// One shard stream and its consumer group.
    public struct Shard: Sendable, Equatable {
        /// Entries in the stream (`XLEN`).
        public var length = 0
        /// Entries not yet delivered to the group; nil when Redis cannot tell (it says nil after
        /// entries were deleted from the middle of the stream, and older servers do not report it).
        /// A missing group has every entry of the stream still to deliver.
        public var lag: Int? = 0
        /// Entries delivered but not yet acknowledged.
        public var pending = 0
        /// False when the stream has no such consumer group (lost with a FLUSHALL, a restart without
        /// AOF, a promoted replica): nothing is being read until it is recreated.
        public var groupExists = true

        /// A shard's state; the defaults are an empty stream with its group.
        public init(length: Int = 0, lag: Int? = 0, pending: Int = 0, groupExists: Bool = true) {
            self.length = length
            self.lag = lag
            self.pending = pending
            self.groupExists = groupExists
        }
    }

    /// Indexed by shard.
    public var shards: [Shard]
    /// Tasks waiting in the compatibility task list (`LLEN` of `keys.tasks`).
    public var compatTasksQueued: Int
    /// Entries in the dead-letter stream (`XLEN` of `keys.deadLetters`).
    public var deadLetters: Int

    /// The state of `shards` (indexed by shard), the task list and the dead-letter stream.
    public init(shards: [Shard], compatTasksQueued: Int = 0, deadLetters: Int = 0) {
        self.shards = shards
        self.compatTasksQueued = compatTasksQueued
        self.deadLetters = deadLetters
    }
}

extension RedisClient {
    /// One pipelined round trip: `XLEN` and `XINFO GROUPS` per shard, `LLEN` of the task list,
    /// `XLEN` of the dead letters. Throws `server` when Redis answers one of them with an error
    /// other than a missing stream's "no such key".
    public func queueState(keys: RedisKeys, shards: Int, group: String) async throws(RedisError) -> QueueState {
        var commands: [RedisCommand] = []
        for shard in 0..<shards {
            commands.append(["XLEN", keys.stream(shard)])
            commands.append(["XINFO", "GROUPS", keys.stream(shard)])
        }
        commands.append(["LLEN", keys.tasks])
        commands.append(["XLEN", keys.deadLetters])
        return try Self.queueState(replies: try pipeline(commands), shards: shards, group: group)
    }

    /// The queue state in the replies of ``queueState(keys:shards:group:)``'s pipeline.
    static func queueState(replies: [RESPValue], shards: Int, group: String) throws(RedisError) -> QueueState {
        guard shards >= 0, replies.count == shards * 2 + 2 else {
            throw RedisError(.protocolError, "queue state: \(replies.count) replies for \(shards) shards")
        }
        // A stream that does not exist yet answers XINFO GROUPS with "no such key" (no group);
        // any other error reply (NOPERM, LOADING, …) is an error, not a missing group.
        for reply in replies {
            if case .error(let message) = reply, !message.contains("no such key") {
                throw RedisError(.server, "queue state: \(message)")
            }
        }
        let states = (0..<shards).map { shard in
            var state = QueueState.Shard(length: replies[shard * 2].int ?? 0)
            if let fields = Self.group(group, in: replies[shard * 2 + 1]) {
                state.lag = fields["lag"]?.int  // nil: Redis cannot tell
                state.pending = fields["pending"]?.int ?? 0
            } else {
                state.groupExists = false
                state.lag = state.length
            }
            return state
        }
        return QueueState(shards: states, compatTasksQueued: replies[shards * 2].int ?? 0, deadLetters: replies[shards * 2 + 1].int ?? 0)
    }

    /// `group`'s fields in an `XINFO GROUPS` reply.
    static func group(_ group: String, in reply: RESPValue) -> [String: RESPValue]? {
        groups(in: reply).first { $0["name"]?.string == group }
    }

    /// Each group's fields in an `XINFO GROUPS` reply (a list of flat field/value lists).
    public static func groups(in reply: RESPValue) -> [[String: RESPValue]] {
        (reply.array ?? []).map(fields(of:))
    }

    /// A reply of alternating field names and values (`XINFO STREAM`, one group of `XINFO GROUPS`) by name.
    public static func fields(of reply: RESPValue) -> [String: RESPValue] {
        let fields = reply.array ?? []
        var values: [String: RESPValue] = [:]
        var i = 0
        while i + 1 < fields.count {
            if let key = fields[i].string { values[key] = fields[i + 1] }
            i += 2
        }
        return values
    }
}

extension Array where Element == QueueState.Shard {
    /// The total lag, nil when any shard's is unknown.
    public var totalLag: Int? {
        reduce(Optional(0)) { total, shard in total.flatMap { t in shard.lag.map { t + $0 } } }
    }

    /// Shards whose stream has no consumer group.
    public var withoutGroup: [Int] { indices.filter { !self[$0].groupExists } }
}
