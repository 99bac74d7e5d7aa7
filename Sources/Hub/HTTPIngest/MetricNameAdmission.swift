import Logging
import Redis
import Synchronization
import TelemetryCore

/// The hub's side of `validation.max_metric_names`: before a request is answered 202, its new
/// metric names are admitted into the deployment's name set (``RedisKeys/metricNames``) while the
/// set is under the cap, atomically (a Lua script), so a flood of new names is answered 400
/// `cardinality_limit` line by line instead of being accepted and dead-lettered later.
///
/// Names once admitted are cached (at most the cap's worth). When Redis cannot answer (the hub is
/// spooling) the names are let through: the processor enforces the same cap against PostgreSQL
/// and dead-letters what is over it.
final class MetricNameAdmission: Sendable {
    static let script = """
        local limit = tonumber(ARGV[1])
        local count = redis.call('SCARD', KEYS[1])
        local out = {}
        for i = 2, #ARGV do
            if redis.call('SISMEMBER', KEYS[1], ARGV[i]) == 1 then
                out[#out + 1] = 1
            elseif count < limit then
                redis.call('SADD', KEYS[1], ARGV[i])
                count = count + 1
                out[#out + 1] = 1
            else
                out[#out + 1] = 0
            end
        end
        return out
        """

    private let redis: RedisClient
    private let key: String
    private let limit: Int
    private let admitted = Mutex<Set<String>>([])

    init(redis: RedisClient, keys: RedisKeys, limit: Int) {
        self.redis = redis
        key = keys.metricNames
        self.limit = limit
    }

    /// The names of `names` refused by the cap (empty when Redis cannot tell).
    func refused(_ names: Set<String>, logger: Logger) async -> Set<String> {
        var unknown = admitted.withLock { known in names.subtracting(known) }.sorted()
        guard !unknown.isEmpty else { return [] }
        // More new names than the cap itself can never all be admitted: the excess is refused
        // without asking, so one request cannot make Redis loop over hundreds of thousands.
        var refused = Set(unknown.dropFirst(limit))
        unknown = Array(unknown.prefix(limit))
        var verdicts: [RESPValue] = []
        for start in stride(from: 0, to: unknown.count, by: 1000) {  // one short script per 1 000 names
            let chunk = unknown[start..<min(start + 1000, unknown.count)]
            do {
                verdicts += try await redis.send(RedisCommand(["EVAL", Self.script, "1", key, String(limit)] + chunk)).array ?? []
            } catch {
                logger.debug("metric names not checked against the cap (redis did not answer)", metadata: ["error": "\(error)"])
                return refused
            }
        }
        admitted.withLock { known in
            for (name, verdict) in zip(unknown, verdicts) {
                if verdict.int == 1 {
                    if known.count < limit { known.insert(name) }
                } else {
                    refused.insert(name)
                }
            }
        }
        return refused
    }
}
