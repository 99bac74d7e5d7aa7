import DequeModule
import Logging
import Redis
import Synchronization
import TelemetryCore

/// Input the hub could not read (a device line that does not parse), on its way to the
/// dead-letter stream with the fields of Docs/architecture.md.
///
/// Bounded (`dead_letters.buffer`): while Redis is unreachable entries wait here, and when full
/// the oldest is dropped and counted (`telemetry_hub_dead_letters_dropped_total`): a dead letter
/// is evidence of bad input, not a reading, so it does not hold the devices back.
package final class HubDeadLetters: Sendable {
    /// Waits between write attempts while Redis refuses them: 200 ms doubling to 5 s.
    static let backoff = Backoff(initialMillis: 100, maximumMillis: 5000)

    package struct Entry: Sendable {
        package var error: TelemetryError
        package var source: String
        package var sourceID: String
        package var payload: [UInt8]
        package var atMillis: Int64
        /// Position in the queue, assigned by ``HubDeadLetters/add(_:)``.
        fileprivate var number: UInt64 = 0

        package init(error: TelemetryError, source: String, sourceID: String, payload: [UInt8], atMillis: Int64 = wallClockMicros() / 1000) {
            self.error = error
            self.source = source
            self.sourceID = sourceID
            self.payload = payload
            self.atMillis = atMillis
        }
    }

    package let capacity: Int
    private struct Queue {
        var entries = Deque<Entry>()
        var next: UInt64 = 0
    }
    private let queue = Mutex(Queue())
    package let dropped = Atomic<Int>(0)
    private let byReason = Mutex([String: Int]())

    package init(capacity: Int) {
        self.capacity = capacity
    }

    package var count: Int { queue.withLock { $0.entries.count } }

    /// Dead letters handed over so far, by reason (every reason present).
    package var reasons: [String: Int] {
        let counted = byReason.withLock { $0 }
        return Dictionary(uniqueKeysWithValues: TelemetryError.Code.all.map { ($0.description, counted[$0.description] ?? 0) })
    }

    package func add(_ entry: Entry) {
        byReason.withLock { $0[entry.error.code.description, default: 0] += 1 }
        var entry = entry
        let overflow = queue.withLock { queue -> Bool in
            queue.next += 1
            entry.number = queue.next
            queue.entries.append(entry)
            guard queue.entries.count > capacity else { return false }
            queue.entries.removeFirst()
            return true
        }
        if overflow { dropped.add(1, ordering: .relaxed) }
    }

    /// Writes queued entries to `keys.deadLetters` until cancelled, waiting out Redis outages;
    /// once cancelled (shutdown), makes one last attempt with what is left.
    package func run(redis: RedisClient, keys: RedisKeys, logger: Logger, heartbeat: StageHeartbeat) async {
        var failures = 0
        while !Task.isCancelled {
            heartbeat.beat()
            if count == 0 {
                heartbeat.idle()
                try? await Task.sleep(for: .milliseconds(50))
                continue
            }
            do {
                try await writeSome(redis: redis, keys: keys)
                failures = 0
            } catch {
                failures += 1
                if failures == 1 {
                    logger.warning("cannot write dead letters; they wait in memory", metadata: ["error": "\(error)", "queued": "\(count)"])
                }
                try? await Task.sleep(for: .milliseconds(Self.backoff.capMillis(afterFailures: failures + 1)))
            }
        }
        while count > 0, (try? await writeSome(redis: redis, keys: keys)) != nil {}
        if count > 0 { logger.warning("stopping with dead letters not written", metadata: ["queued": "\(count)"]) }
    }

    /// Writes up to 64 of the oldest entries in one round trip and removes them.
    private func writeSome(redis: RedisClient, keys: RedisKeys) async throws {
        let batch = queue.withLock { Array($0.entries.prefix(64)) }
        guard let last = batch.last?.number else { return }
        let commands = batch.map { entry in
            RedisCommand.deadLetter(keys: keys, error: entry.error, attempts: 1, firstFailureMillis: entry.atMillis,
                                    lastFailureMillis: entry.atMillis, source: entry.source, sourceID: entry.sourceID, payload: entry.payload)
        }
        let replies = try await redis.pipeline(commands)
        if let failure = replies.first(where: { if case .error = $0 { true } else { false } }) {
            throw RedisError(.server, "XADD to the dead letters failed: \(failure)")
        }
        // Remove what was written (the overflow policy may have dropped some meanwhile).
        queue.withLock { queue in
            while let first = queue.entries.first, first.number <= last { queue.entries.removeFirst() }
        }
    }
}
