import Logging
import Redis
import TelemetryCore
import Synchronization

/// Acknowledges finished work: `XACK` for stream entries, `LREM` from the processing list for
/// compatibility tasks. Runs on its own Redis connection (the reader's blocks in `XREADGROUP`).
///
/// Acknowledgements that arrive while a round trip is under way are sent together in the next
/// one (one `XACK` per stream carrying every id, pipelined with any `LREM`s), so the workers
/// never queue one round trip each behind each other.
package final class Acknowledger: Sendable {
    let redis: RedisClient
    let keys: RedisKeys
    let group: String
    let consumer: String
    let inFlight: InFlight

    private struct Intake {
        var waiting: [(sources: [WorkItem.Source], done: CheckedContinuation<Void, Never>)] = []
        var sending = false
    }

    private let intake = Mutex(Intake())

    package init(redis: RedisClient, keys: RedisKeys, group: String, consumer: String, inFlight: InFlight = InFlight()) {
        self.inFlight = inFlight
        self.redis = redis
        self.keys = keys
        self.group = group
        self.consumer = consumer
    }

    /// Acknowledges `source`, retrying through a Redis outage; returns once Redis took it.
    package func acknowledge(_ source: WorkItem.Source, logger: Logger) async {
        await acknowledge([source], logger: logger)
    }

    /// Acknowledges `sources` together.
    package func acknowledge(_ sources: [WorkItem.Source], logger: Logger) async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let lead = intake.withLock { state -> Bool in
                state.waiting.append((sources, done))
                defer { state.sending = true }
                return !state.sending
            }
            if lead { Task { await self.send(logger: logger) } }
        }
    }

    /// Sends what waits, round trip after round trip, until nothing is left.
    private func send(logger: Logger) async {
        while true {
            let taken = intake.withLock { state -> [(sources: [WorkItem.Source], done: CheckedContinuation<Void, Never>)] in
                defer { state.waiting.removeAll(keepingCapacity: true) }
                if state.waiting.isEmpty { state.sending = false }
                return state.waiting
            }
            guard !taken.isEmpty else { return }
            var ids: [Int: [String]] = [:]
            var shardOrder: [Int] = []
            var commands: [RedisCommand] = []
            for source in taken.flatMap(\.sources) {
                switch source {
                case .stream(let shard, let entryID):
                    if ids[shard] == nil { shardOrder.append(shard) }
                    ids[shard, default: []].append(entryID)
                case .compat(let raw):
                    var command: RedisCommand = ["LREM", keys.processing(consumer), "1"]
                    command.append(bytes: raw)
                    commands.append(command)
                    commands.append(["HDEL", keys.deliveries, ConsumerActor.deliveryField(raw)])
                }
            }
            for shard in shardOrder {
                commands.append(RedisCommand(["XACK", keys.stream(shard), group] + ids[shard]!))
            }
            var backoff = Backoff(initial: .milliseconds(50), maximum: .seconds(5))
            while true {
                do {
                    let replies = try await redis.pipeline(commands)
                    if let failure = replies.first(where: { if case .error = $0 { true } else { false } }) {
                        redis.refusals?.beatOnce()
                        throw RedisError(.server, "acknowledgement refused: \(failure)")
                    }
                    redis.refusals?.idle()
                    break
                } catch {
                    let wait = backoff.next()
                    logger.warning("acknowledgement failed, retrying", metadata: ["error": "\(error)", "retry_in": "\(wait)"])
                    try? await Task.sleep(for: wait)
                }
            }
            inFlight.finished(taken.flatMap(\.sources))
            for (_, done) in taken { done.resume() }
        }
    }
}
