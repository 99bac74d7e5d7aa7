public import Synchronization

/// Counters of the hub's stages, read by logs and status (and by metrics later).
public final class HubCounters: Sendable {
    public let samplesRead = Atomic<Int>(0)
    public let ringFullWaits = Atomic<Int>(0)
    public let batchesBuilt = Atomic<Int>(0)
    public let batchesDropped = Atomic<Int>(0)
    public let samplesDropped = Atomic<Int>(0)
    public let batchesPublished = Atomic<Int>(0)
    public let samplesPublished = Atomic<Int>(0)
    public let publishErrors = Atomic<Int>(0)
    /// Stream entries removed by the retention trim, and of those, how many a consumer group had
    /// not processed (read or acknowledged) yet.
    public let entriesTrimmed = Atomic<Int>(0)
    public let trimmedUnread = Atomic<Int>(0)
    public let batchesSpooled = Atomic<Int>(0)
    public let batchesReplayed = Atomic<Int>(0)
    public let spoolDroppedBatches = Atomic<Int>(0)
    public let spoolDroppedSamples = Atomic<Int>(0)
    public let spoolRecords = Atomic<Int>(0)
    public let spoolBytes = Atomic<Int>(0)
    /// 1 while the Redis circuit breaker is not closed.
    public let breakerOpen = Atomic<Int>(0)
    /// 1 while the spool has no room for the next batches.
    public let spoolFull = Atomic<Int>(0)
    /// 1 when Redis was found without `appendonly yes` / `noeviction`.
    public let redisMisconfigured = Atomic<Int>(0)
    /// 1 once the hub accepts data.
    public let started = Atomic<Int>(0)
    /// HTTP ingest: samples (lines) accepted and made durable, their values, lines rejected.
    public let httpSamplesAccepted = Atomic<Int>(0)
    public let httpValuesAccepted = Atomic<Int>(0)
    /// Lines rejected by reason code.
    public let httpRejected = Mutex<[String: Int]>([:])
    /// Responses by route and status, e.g. `["/v1/samples", "202"]`.
    public let httpResponses = Mutex<[[String]: Int]>([:])

    public func countResponse(route: String, status: Int) {
        httpResponses.withLock { $0[[route, String(status)], default: 0] += 1 }
    }

    public init() {}

    /// A one-line summary for logs and `STATUS=`.
    public var summary: String {
        "read=\(samplesRead.load(ordering: .relaxed)) published=\(samplesPublished.load(ordering: .relaxed)) " +
            "batches=\(batchesPublished.load(ordering: .relaxed)) dropped=\(samplesDropped.load(ordering: .relaxed)) " +
            "ring_full_waits=\(ringFullWaits.load(ordering: .relaxed)) publish_errors=\(publishErrors.load(ordering: .relaxed)) " +
            "spooled=\(batchesSpooled.load(ordering: .relaxed)) replayed=\(batchesReplayed.load(ordering: .relaxed)) " +
            "spool_records=\(spoolRecords.load(ordering: .relaxed)) spool_dropped_samples=\(spoolDroppedSamples.load(ordering: .relaxed))"
    }
}
