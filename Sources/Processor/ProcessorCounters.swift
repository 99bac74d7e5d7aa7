import Synchronization
import TelemetryCore
import Redis

/// Counters of the processor's stages, read by logs and status (and by metrics later).
package final class ProcessorCounters: Sendable {
    package let entriesRead = Atomic<Int>(0)
    package let compatTasksRead = Atomic<Int>(0)
    package let itemsCompleted = Atomic<Int>(0)
    package let samplesStored = Atomic<Int>(0)
    package let duplicateBatches = Atomic<Int>(0)
    package let duplicateSamples = Atomic<Int>(0)
    package let conflictingValues = Atomic<Int>(0)
    package let alerts = Atomic<Int>(0)
    package let retries = Atomic<Int>(0)
    package let outageWaits = Atomic<Int>(0)
    /// Pending entries found deleted from their stream (trimmed or XDEL'd) before being processed.
    package let trimmedUnread = Atomic<Int>(0)
    /// Entries undelivered or pending at the last probe before a consumer group was found lost.
    package let entriesPossiblyLost = Atomic<Int>(0)
    /// Gaps re-read after a failover to a standby that missed the last commits, and their entries.
    package let rewinds = Atomic<Int>(0)
    package let rewoundEntries = Atomic<Int>(0)
    /// Re-reads that found entries after the database's position already deleted from the stream.
    package let rewindsIncomplete = Atomic<Int>(0)
    /// Pending entries and processing-list tasks no worker held (a lost reply), delivered again.
    package let strandedRedelivered = Atomic<Int>(0)
    /// Dead letters deleted by the `dead_letters.max_bytes` cap.
    package let deadLettersEvicted = Atomic<Int>(0)
    /// Consumer groups recreated after Redis lost them (NOGROUP).
    package let groupsRecreated = Atomic<Int>(0)
    /// Entries and tasks quarantined as `poison` (delivered more than `consumer.max_deliveries` times).
    package let poisoned = Atomic<Int>(0)
    /// 1 while the last probe reached Redis / PostgreSQL.
    package let redisReachable = Atomic<Int>(0)
    package let postgresReachable = Atomic<Int>(0)
    /// 1 when Redis was found without `appendonly yes` / `noeviction`.
    package let redisMisconfigured = Atomic<Int>(0)
    /// The primary's replication slots at the last look (every 5 s).
    package let replicationSlots = Mutex<[ReplicationSlot]>([])
    /// Samples refused by validation since the last flush to `data_quality_rejections`.
    package let qualityRejections = QualityRejections()
    /// The silence checker and the alert deliverer (their counters are their own).
    package let health = Mutex<HealthChecker?>(nil)
    package let alertDelivery = Mutex<AlertDeliverer?>(nil)
    /// The lake exporter, when `lake.path` is set (its counters are its own).
    package let lake = Mutex<LakeExporter?>(nil)
    /// 1 once start-up (migrations, consumer groups) is done.
    package let started = Atomic<Int>(0)
    private let deadLetters = Mutex<[String: Int]>([:])
    private let tasks = Mutex<[String: TaskCounts]>([:])
    private let queues = Mutex<[QueueState.Shard]>([])
    /// Rows inserted by COPY (or its conflict fallback).
    package let copyRows = Atomic<Int>(0)
    /// Seconds per storage transaction (batch-id record, COPY, aggregates, latest, alerts, COMMIT).
    package let copyDuration = BucketHistogram(bounds: BucketHistogram.exponentialBounds(start: 0.000_5, factor: 2, count: 14))
    /// Seconds from a sample's own timestamp to the COMMIT that stored it.
    package let endToEndLatency = BucketHistogram(bounds: BucketHistogram.exponentialBounds(start: 0.005, factor: 2, count: 16))
    /// Storage transactions committed and the batches they carried (group commit; sampled every probe).
    package let storageTransactions = Atomic<Int>(0)
    package let storageBatches = Atomic<Int>(0)
    /// Cache write-throughs by outcome (`written`, `failed`, `skipped`), summed over the storage
    /// connections (sampled every probe).
    package let cacheWrites = Mutex<[String: Int]>([:])
    /// Items waiting in the worker queues (sampled every probe).
    package let workerQueueDepth = Atomic<Int>(0)
    /// Entries in the dead-letter stream (sampled every probe).
    package let deadLetterStreamLength = Atomic<Int>(0)

    /// Finished, dead-lettered and retried items per task type (`hub_batch` for stream entries).
    package struct TaskCounts: Sendable, Equatable {
        package var processed = 0
        package var failed = 0
        package var retried = 0

        package init() {}
    }

    private let metricStatistics = Mutex<[String: SeriesStatistics]>([:])

    package init() {}

    package func countDeadLetter(reason: TelemetryError.Code) {
        deadLetters.withLock { $0[reason.description, default: 0] += 1 }
    }

    package func countTask(_ type: String, _ update: (inout TaskCounts) -> Void) {
        tasks.withLock { update(&$0[type, default: TaskCounts()]) }
    }

    /// Per task type: processed, failed (dead-lettered) and retried.
    package var tasksByType: [String: TaskCounts] { tasks.withLock { $0 } }

    /// Records a probe of the queues in Redis.
    package func updateQueues(_ state: QueueState) {
        queues.withLock { $0 = state.shards }
        deadLetterStreamLength.store(state.deadLetters, ordering: .relaxed)
    }

    /// Length, lag and pending entries of each shard stream (indexed by shard), as last probed.
    package var shards: [QueueState.Shard] { queues.withLock { $0 } }

    /// Dead letters written so far, by reason code.
    package var deadLettersByReason: [String: Int] { deadLetters.withLock { $0 } }

    /// Folds per-batch statistics into per-metric totals (no per-device labels).
    package func record(statistics: [String: SeriesStatistics]) {
        guard !statistics.isEmpty else { return }
        metricStatistics.withLock { totals in
            for (metric, s) in statistics { totals[metric, default: SeriesStatistics()].merge(s) }
        }
    }

    /// Per-metric statistics of every analysed sample so far.
    package var statisticsByMetric: [String: SeriesStatistics] { metricStatistics.withLock { $0 } }

    package var summary: String {
        "entries=\(entriesRead.load(ordering: .relaxed)) compat=\(compatTasksRead.load(ordering: .relaxed)) " +
            "done=\(itemsCompleted.load(ordering: .relaxed)) stored=\(samplesStored.load(ordering: .relaxed)) " +
            "dup_batches=\(duplicateBatches.load(ordering: .relaxed)) dup_samples=\(duplicateSamples.load(ordering: .relaxed)) " +
            "alerts=\(alerts.load(ordering: .relaxed)) retries=\(retries.load(ordering: .relaxed)) " +
            "dead_letters=\(deadLettersByReason.values.reduce(0, +))"
    }
}
