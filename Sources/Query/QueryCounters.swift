import Synchronization
import TelemetryCore

/// Counters of the query daemon, for `/metrics` and the status document.
public final class QueryCounters: Sendable {
    /// Answers by route and status.
    let responses = Mutex<[String: [Int: Int]]>([:])
    /// Reads by where they ran: `primary`, `primary_fallback`, `replica`, and the ways a source was
    /// passed over (`replica_busy`, `replica_failed`, `fallback_refused`, `primary_busy`).
    let reads = Mutex<[String: Int]>([:])
    /// Latest-value lookups in the cache by `X-Cache-Status` (`HIT`, `MISS`, `BYPASS`), and fills by outcome.
    let cache = Mutex<[String: Int]>([:])
    let fills = Mutex<[String: Int]>([:])
    /// Session reads by outcome: `replica`, `primary`, `not_yet` (425).
    let sessions = Mutex<[String: Int]>([:])
    /// Seconds per answered data request.
    let duration = BucketHistogram(bounds: BucketHistogram.exponentialBounds(start: 0.000_25, factor: 2, count: 16))
    /// 1 while the primary answers the readiness probe; 1 while Redis answers.
    let primaryUp = Atomic<Int>(0)
    let redisUp = Atomic<Int>(0)

    /// Counters at zero.
    public init() {}

    func countResponse(route: String, status: Int) {
        responses.withLock { $0[route, default: [:]][status, default: 0] += 1 }
    }

    func countRead(_ outcome: String) { reads.withLock { $0[outcome, default: 0] += 1 } }
    func countCache(_ status: String) { cache.withLock { $0[status, default: 0] += 1 } }
    func countFill(_ outcome: String) { fills.withLock { $0[outcome, default: 0] += 1 } }
    func countSession(_ outcome: String) { sessions.withLock { $0[outcome, default: 0] += 1 } }
}
