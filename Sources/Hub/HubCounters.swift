import Synchronization

/// Counters of the hub's stages, read by logs and status (and by metrics later).
public final class HubCounters: Sendable {
    package let samplesRead = Atomic<Int>(0)
    package let ringFullWaits = Atomic<Int>(0)
    package let batchesBuilt = Atomic<Int>(0)
    package let batchesDropped = Atomic<Int>(0)
    package let samplesDropped = Atomic<Int>(0)
    package let batchesPublished = Atomic<Int>(0)
    package let samplesPublished = Atomic<Int>(0)
    package let publishErrors = Atomic<Int>(0)
    /// Round trips whose XADDs fewer replicas than `redis.durable_replicas` confirmed in time.
    package let unconfirmedRoundTrips = Atomic<Int>(0)
    /// Stream entries removed by the retention trim, and of those, how many a consumer group had
    /// not processed (read or acknowledged) yet.
    package let entriesTrimmed = Atomic<Int>(0)
    package let trimmedUnread = Atomic<Int>(0)
    package let batchesSpooled = Atomic<Int>(0)
    package let batchesReplayed = Atomic<Int>(0)
    package let spoolDroppedBatches = Atomic<Int>(0)
    package let spoolDroppedSamples = Atomic<Int>(0)
    package let spoolRecords = Atomic<Int>(0)
    package let spoolBytes = Atomic<Int>(0)
    /// 1 while the Redis circuit breaker is not closed.
    package let breakerOpen = Atomic<Int>(0)
    /// 1 while the spool has no room for the next batches.
    package let spoolFull = Atomic<Int>(0)
    /// 1 when Redis was found without `appendonly yes` / `noeviction`.
    package let redisMisconfigured = Atomic<Int>(0)
    /// 1 once the hub accepts data.
    package let started = Atomic<Int>(0)
    /// HTTP ingest: samples (lines) accepted and made durable, their values, lines rejected.
    package let httpSamplesAccepted = Atomic<Int>(0)
    package let httpValuesAccepted = Atomic<Int>(0)
    /// Lines rejected by reason code.
    package let httpRejected = Mutex<[String: Int]>([:])
    /// Line protocol: string fields kept as labels and string fields whose line was refused.
    package let stringFieldsKept = Atomic<Int>(0)
    package let stringFieldsRejected = Atomic<Int>(0)
    /// Responses by route and status, e.g. `["/v1/samples", "202"]`.
    package let httpResponses = Mutex<[[String]: Int]>([:])

    package func countResponse(route: String, status: Int) {
        httpResponses.withLock { $0[[route, String(status)], default: 0] += 1 }
    }

    /// All counters at zero.
    public init() {}

    /// A one-line summary for logs and `STATUS=`.
    package var summary: String {
        "read=\(samplesRead.load(ordering: .relaxed)) published=\(samplesPublished.load(ordering: .relaxed)) " +
            "batches=\(batchesPublished.load(ordering: .relaxed)) dropped=\(samplesDropped.load(ordering: .relaxed)) " +
            "ring_full_waits=\(ringFullWaits.load(ordering: .relaxed)) publish_errors=\(publishErrors.load(ordering: .relaxed)) " +
            "spooled=\(batchesSpooled.load(ordering: .relaxed)) replayed=\(batchesReplayed.load(ordering: .relaxed)) " +
            "spool_records=\(spoolRecords.load(ordering: .relaxed)) spool_dropped_samples=\(spoolDroppedSamples.load(ordering: .relaxed))"
    }
}
