import Logging
import Postgres
import Redis
import TelemetryCore

/// Re-reading what a promoted standby missed (Docs/high-availability.md).
///
/// Each transaction records, in `stream_positions`, the furthest stream entry it committed and
/// the WAL timeline it was written on. A row from an older timeline than the server's means a
/// standby was promoted since: with asynchronous replication it may lack the last commits of
/// the old primary, whose entries Redis already counts as acknowledged. Before reading new
/// entries of such a shard, the consumer re-reads the stream from the row's entry to the
/// group's last delivered id; storage is idempotent by batch id, so what the standby has is only
/// acknowledged again and what it lacks is stored.
extension ConsumerActor {
    /// The rows seen on an older timeline by the storage connections opened since the last call,
    /// and by a read at lease acquisition, re-read for the shards this consumer reads. Shards it
    /// does not read are left to their readers (their own connections see the same rows).
    func rewindIfBehind() async throws(RedisError) {
        guard let positionBook else { return }
        if let captured = positionBook.take() {
            // A connection opened before the last re-read marked its row sees the same position
            // and re-reads the same gap: idempotent, and right after a second failover.
            for (stream, id) in captured where behind[stream].map({ id < $0 }) ?? true { behind[stream] = id }
        }
        guard !behind.isEmpty else { return }
        let reading = Dictionary(uniqueKeysWithValues: leases.reading.map { (configuration.redis.keys.stream($0), $0) })
        behind = behind.filter { reading[$0.key] != nil }
        for (stream, mark) in behind.sorted(by: { $0.key < $1.key }) {
            guard let shard = reading[stream], !Task.isShuttingDownGracefully, !Task.isCancelled else { return }
            try await rewind(shard: shard, after: mark)
            behind[stream] = nil
        }
    }

    /// Reads `stream_positions` for a shard just acquired (the processor that read it before may
    /// have stopped before its own check). False when PostgreSQL did not answer: the shard is not
    /// read yet.
    func checkPosition(of shard: Int) async -> Bool {
        guard positionBook != nil, let positionStorage else { return true }
        let stream = configuration.redis.keys.stream(shard)
        do {
            if let mark = try await positionStorage.streamPositions()[stream], behind[stream].map({ mark < $0 }) ?? true {
                behind[stream] = mark
            }
            return true
        } catch {
            logger.warning("cannot read the shard's committed position yet; the shard waits", metadata: ["shard": "\(shard)", "error": "\(error)"])
            return false
        }
    }

    /// Re-reads the entries of `shard` after `mark` up to the group's last delivered id, waits
    /// until they are processed, then marks the row as checked.
    ///
    /// It first waits until the workers hold no entry of the shard: one committed on the old
    /// primary but not yet acknowledged when it died would be acknowledged, lost, were it skipped.
    /// Then every entry of the gap is delivered again, pending ones included (another
    /// consumer's, after a lease moved); storage is idempotent, so what is there is only
    /// acknowledged again. They are not counted as deliveries (Docs/high-availability.md).
    func rewind(shard: Int, after mark: StreamID) async throws(RedisError) {
        let key = configuration.redis.keys.stream(shard)
        let group = configuration.consumer.group
        await heartbeat.waiting { await waitUntil { !self.inFlight.holds(shard: shard) } }
        let groups: [[String: RESPValue]]
        do {
            groups = RedisClient.groups(in: try await control.send(["XINFO", "GROUPS", key]))
        } catch where error.code == .server && error.message.lowercased().contains("no such key") {
            groups = []  // no such stream: nothing to re-read
        }
        let last = groups.first { $0["name"]?.string == group }?["last-delivered-id"]?.string.flatMap(StreamID.init)
        var rewound = 0
        if let last, mark < last {
            let stream = RedisClient.fields(of: try await control.send(["XINFO", "STREAM", key]))
            if let lost = Self.unreadable(after: mark, stream: stream) {
                counters.rewindsIncomplete.add(1, ordering: .relaxed)
                logger.error("entries after the database's position may be gone from the stream (trimmed or deleted): what is left is re-read, the rest cannot be",
                             metadata: ["shard": "\(shard)", "position": "\(mark)", "gone": "\(lost)"])
            }
            var start = "(\(mark)"
            var dispatched: [String] = []
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                let entries = try await control.send(["XRANGE", key, start, last.description, "COUNT", String(configuration.consumer.readCount)]).array ?? []
                guard let lastID = entries.last?.array?.first?.string else { break }
                let fresh = entries.filter { entry in
                    guard let id = entry.array?.first?.string else { return false }
                    return !inFlight.contains(shard: shard, entry: id)
                }
                dispatched += fresh.compactMap { $0.array?.first?.string }
                rewound += await dispatchEntries(fresh, shard: shard)
                start = "(" + lastID
                if entries.count < configuration.consumer.readCount { break }
            }
            counters.rewinds.add(1, ordering: .relaxed)
            counters.rewoundEntries.add(rewound, ordering: .relaxed)
            logger.warning("the database is behind the stream (a standby was promoted without the last commits): re-read the gap",
                           metadata: ["shard": "\(shard)", "position": "\(mark)", "last_delivered": "\(last)", "entries": "\(rewound)"])
            for id in dispatched {
                await heartbeat.waiting { await waitUntil { !self.inFlight.contains(shard: shard, entry: id) } }
            }
        }
        guard !Task.isShuttingDownGracefully && !Task.isCancelled else { return }
        // Checked: later connections need not re-read this gap (a failure only repeats the check).
        do {
            try await positionStorage?.adoptTimeline(stream: key, at: mark)
        } catch {
            logger.warning("cannot mark the shard's position as checked (the next connection checks it again)",
                           metadata: ["shard": "\(shard)", "error": "\(error)"])
        }
        if rewound == 0 { logger.info("the shard's position was written before a failover; nothing to re-read", metadata: ["shard": "\(shard)", "position": "\(mark)"]) }
    }

    /// Why entries after `mark` may be missing from a stream (`XINFO STREAM` fields), or nil when
    /// the stream surely holds everything after it. It may over-report: a stream now beginning
    /// after `mark` may have lost only `mark` itself to retention (an idle shard). Retention
    /// trims with `XTRIM MINID`, which moves the stream's start (`recorded-first-entry-id`, Redis 7; else the first entry's id)
    /// but not `max-deleted-entry-id`, which only `XDEL` moves; an emptied stream has neither.
    package static func unreadable(after mark: StreamID, stream: [String: RESPValue]) -> String? {
        if let deleted = stream["max-deleted-entry-id"]?.string.flatMap(StreamID.init), mark < deleted {
            return "deleted up to \(deleted)"
        }
        if mark == .zero {
            // From the stream's start (no position at all): gone is whatever was ever added and is not there now.
            guard let added = stream["entries-added"]?.int, let length = stream["length"]?.int else { return nil }
            return added > length ? "\(added - length) of the \(added) entries ever added were trimmed or deleted" : nil
        }
        let first = stream["recorded-first-entry-id"]?.string.flatMap(StreamID.init)
            ?? stream["first-entry"]?.array?.first?.string.flatMap(StreamID.init)
        if let first, first != .zero, mark < first {
            return "the stream now begins at \(first)"
        }
        if stream["length"]?.int == 0 { return "the stream is empty" }
        return nil
    }
}
